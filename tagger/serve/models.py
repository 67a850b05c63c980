"""The taggers a server offers: one run, or every run and export in a folder, by names that
can never reach outside it; each opened once, through the tagging session's open_tagger."""
import re
import threading
from pathlib import Path

from ..core.quiet import keep_quiet
from ..infer.backends import is_tagger
from ..infer.session import Choice, TaggerError, open_tagger

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Refused(Exception):
    """A request the server turns down: an HTTP status and one line saying why."""

    def __init__(self, status, reason, headers=None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class Models:
    """Name -> tagger, for one `run` or every tagger directly under `runs_dir`."""

    def __init__(self, run=None, runs_dir=None, verbose=False, device="auto"):
        if (run is None) == (runs_dir is None):
            raise ValueError("give one of run or runs_dir")
        self.verbose = verbose  # TensorFlow's own log lines while a tagger opens
        self.run = Path(run).resolve() if run is not None else None
        self.root = Path(runs_dir).resolve() if runs_dir is not None else None
        self.loaded, self.lock = {}, threading.Lock()
        self.device = device  # where the taggers run: tagger.infer.devices.DEVICES

    def names(self):
        """The names a client may ask for, sorted."""
        if self.run is not None:
            return [self.run.name]
        return sorted(p.name for p in self.root.iterdir() if NAME.fullmatch(p.name)
                      and self._inside(p) and is_tagger(p))

    def _inside(self, path):
        try:
            path.resolve().relative_to(self.root)
            return True
        except (OSError, ValueError):
            return False

    def path_of(self, name):
        """The tagger's path for a name a client sent; Refused (4xx) for any other."""
        if name is None:
            names = self.names()
            if len(names) == 1:
                return names[0], self.run or self.root / names[0]
            raise Refused(400, f"name a model: one of {', '.join(names) or '(none)'}")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise Refused(400, "a model name is letters, digits, '.', '_' and '-' only, "
                               "and no path")
        if self.run is not None:
            if name != self.run.name:
                raise Refused(404, f"no model {name!r}: this server offers {self.run.name!r}")
            return name, self.run
        path = self.root / name
        if not (self._inside(path) and is_tagger(path)):
            raise Refused(404, f"no model {name!r} in the runs folder; "
                               f"GET /tagger/v1/interrogators lists them")
        return name, path

    def get(self, name):
        """(name, tagger), opened on first use and kept; blocking (call from a thread)."""
        name, path = self.path_of(name)
        with self.lock:
            if name not in self.loaded:
                try:
                    with keep_quiet(self.verbose):
                        self.loaded[name] = open_tagger(path, self.device)
                except TaggerError as exc:
                    raise Refused(422, f"model {name!r} cannot be opened: {exc}") from None
            return name, self.loaded[name]


    def unload(self, names):
        """Forget the opened taggers of `names` (the next request opens them again)."""
        with self.lock:
            for name in names:
                self.loaded.pop(name, None)


def choice_for(tagger, threshold):
    """The Choice of a request: its threshold, else the tagger's tuned thresholds."""
    if threshold is None and tagger.thresholds is None:
        raise Refused(400, "this model has no tuned thresholds (no thresholds.csv): "
                           "pass a threshold")
    return Choice(threshold=threshold)
