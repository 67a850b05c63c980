"""One tagging session: the way every use of a trained tagger (tag.py, draw.py, test.py)
opens it, decodes pictures for it and chooses their tags.

A session opens any tagger (a Keras run, an ONNX or LiteRT export, a WD14-layout folder),
starts decoding in worker processes before the model loads (TensorFlow takes seconds),
restarts the decoding when the loaded model wants another size or fit than its run said,
owns the one threshold policy, and yields every picture in order with its scores and
chosen tags.

    with TaggingSession(run, Choice(threshold=0.4), Decoding(workers=2)) as session:
        session.start(paths)
        tagger = session.load()          # TaggerError: one line for the user
        for result in session.results():
            ...
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.entry import describe_os_error
from ..core.folders import RunFolder
from ..core.quiet import keep_quiet
from . import backends
from .categories import MCUT_FLOOR, mcut_threshold
from .decoding import DecodeStream, WorkerDied, open_pool

__all__ = ["Choice", "Decoding", "Tagged", "TaggerError", "TaggingSession", "WorkerDied",
           "FAILURES", "choose", "open_tagger"]


class TaggerError(ValueError):
    """A tagger that cannot be opened or used as asked: one line naming it and what to do."""


FAILURES = (TaggerError, WorkerDied)  # what a script turns into one line and exit 2


@dataclass(frozen=True)
class Choice:
    """How tags are chosen, the same in every script: each tag over its category's threshold
    (`by_category`, pairs such as ("character", 0.85)) or, in the categories of `mcut`, over
    the MCut threshold of that picture's scores (as imgutils does); else over one `threshold`;
    else over the tagger's tuned per-tag thresholds (the default). Then at most `max_tags` of
    them, the most likely (None: no limit)."""
    threshold: float = None
    max_tags: int = None
    by_category: tuple = ()
    mcut: frozenset = frozenset()
    _cache: list = field(default_factory=list, compare=False, hash=False, repr=False)

    @property
    def tuned(self):
        return self.threshold is None

    def check(self, tagger, source, alternatives):
        """Refuse tuned thresholds that the tagger does not have, in one line."""
        limits, cuts = self._plan(tagger)
        fixed = ~np.logical_or.reduce([mask for mask, _ in cuts]) if cuts else slice(None)
        if tagger.thresholds is None and np.isnan(limits[fixed]).any():
            raise TaggerError(missing_thresholds(source, alternatives))

    def _plan(self, tagger):
        """(each tag's fixed threshold, NaN where tuned ones are missing; [(category mask,
        MCut floor)]) for `tagger`, worked out once per tagger."""
        if not self._cache or self._cache[0] is not tagger:
            categories = np.asarray(tagger.categories, object)
            if self.threshold is not None:
                limits = np.full(len(tagger.tags), float(self.threshold))
            elif tagger.thresholds is not None:
                limits = np.asarray(tagger.thresholds, float).copy()
            else:
                limits = np.full(len(tagger.tags), np.nan)
            for category, value in self.by_category:
                limits[categories == category] = value
            cuts = [(categories == c, MCUT_FLOOR.get(c, 0.0)) for c in sorted(self.mcut)]
            self._cache[:] = [tagger, limits, [(m, f) for m, f in cuts if m.any()]]
        return self._cache[1], self._cache[2]

    def pick(self, scores, tagger):
        """[(tag, score)] for one picture, most likely first."""
        limits, cuts = self._plan(tagger)
        if cuts:
            limits = limits.copy()
            for mask, floor in cuts:
                cut = mcut_threshold(scores[mask])
                if cut is not None:  # a category of one tag keeps its fixed threshold
                    limits[mask] = max(floor, cut)
        return choose(scores, tagger.tags, limits, max_tags=self.max_tags)


def missing_thresholds(source, alternatives):
    """The error for tuned thresholds a tagger lacks."""
    return (f"{source} has no thresholds.csv, so there are no tuned thresholds to choose tags "
            f"by (train.py writes it when a run finishes and export.py copies it beside an "
            f"export; a public WD14 tagger has none); pass {alternatives} instead")


def choose(scores, tags, thresholds=None, threshold=None, max_tags=None):
    """[(tag, score)] chosen for one picture, most likely first: over the per-tag
    `thresholds` or one `threshold`, then at most `max_tags` of them."""
    order = np.argsort(-scores, kind="stable")
    limits = np.full(len(tags), threshold) if threshold is not None else np.asarray(thresholds)
    kept = order[scores[order] >= limits[order]]  # a NaN limit (no threshold) keeps nothing
    chosen = [(tags[j], float(scores[j])) for j in kept]
    return chosen[:max_tags] if max_tags else chosen


@dataclass(frozen=True)
class Decoding:
    """How pictures reach the network: `workers` processes (0: this one), `batch_size`
    pictures per call, `reduced` decoding (JPEG draft mode, only as large as needed);
    with `draw_dir`, each picture is also kept there (at most `max_side`) for drawing."""
    workers: int = 0
    batch_size: int = 64
    reduced: bool = True
    draw_dir: str = None
    max_side: int = None
    max_pixels: int = None  # Pillow's decompression-bomb limit; None: its own, 0: none
    budget_mb: int = 64  # model inputs decoded ahead of the network

    def window(self, size):
        """Pictures decoded ahead: as many as fit in the budget (2,000 at 100 px), so the
        workers keep decoding while the model loads; while drawing, a few batches, since
        every picture waits on disk until it is drawn."""
        if self.draw_dir:
            return self.batch_size + 2 * self.workers
        return max(2 * self.batch_size, min(2048, self.budget_mb * 2**20 // (size * size * 3)))


@dataclass
class Tagged:
    """One picture's result: its scores and chosen tags, or why it could not be read; its
    `ratings` are {rating: score} for a tagger that rates ({} for one that does not)."""
    path: Path
    scores: np.ndarray = None
    chosen: list = None
    error: str = None
    picture_file: str = None  # with Decoding.draw_dir: the decoded picture, for drawing
    ratings: dict = field(default_factory=dict)


def open_tagger(path, device="auto"):
    """The tagger of a run folder, an ONNX or LiteRT export or a WD14 folder, on `device`
    (tagger.infer.devices); TaggerError (one line) when it cannot be opened."""
    try:
        return backends.open_tagger(path, device)
    except (OSError, ValueError) as exc:
        raise TaggerError(describe_os_error(exc) if isinstance(exc, OSError) else str(exc)) \
            from None


def peek_input(path):
    """(image size, fit) a run recorded, without loading its model, or None: decoding can
    start while TensorFlow loads."""
    try:
        settings = RunFolder(path).settings
        return int(settings["image_size"]), settings.get("fit", "pad")
    except (OSError, ValueError, KeyError, TypeError):
        return None


class TaggingSession:
    """A tagger and the worker processes that decode pictures for it."""

    def __init__(self, source, choice=Choice(), decoding=Decoding(), alternatives="--threshold",
                 verbose=False, device="auto"):
        self.source, self.choice, self.decoding = Path(source), choice, decoding
        self.device = device  # where the network runs: tagger.infer.devices.DEVICES
        self.verbose = verbose  # TensorFlow's own log lines while the model loads
        self.alternatives = alternatives  # named in the error for missing tuned thresholds
        self.pool, self.paths, self.stream, self.tagger, self._spec = None, [], None, None, None

    def __enter__(self):
        self.pool = open_pool(self.decoding.workers)
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=False, cancel_futures=True)

    def start(self, paths):
        """Begin decoding `paths` at the size the run recorded, before the model loads."""
        self.paths = list(paths)
        self._spec = ((self.tagger.image_size, self.tagger.fit) if self.tagger
                      else peek_input(self.source))
        self.stream = self._decode(*self._spec) if self._spec and self.paths else None

    def _decode(self, size, fit):
        options = self.decoding
        return DecodeStream(self.pool, self.paths, size, fit, reduced=options.reduced,
                            window=options.window(size), draw_dir=options.draw_dir,
                            max_side=options.max_side, max_pixels=options.max_pixels)

    def load(self):
        """Load the tagger, check the choice against it, and make sure the pictures are
        decoded at its size; returns the tagger (tags, thresholds, image_size, fit)."""
        if self.tagger is None:
            with keep_quiet(self.verbose):
                self.tagger = open_tagger(self.source, self.device)
            self.choice.check(self.tagger, self.source, self.alternatives)
        spec = (self.tagger.image_size, self.tagger.fit)
        if self.paths and (self.stream is None or spec != self._spec):
            if self.stream is not None:
                self.stream.cancel()  # decoded at the size the run's record said: wasted
            self.stream, self._spec = self._decode(*spec), spec
        return self.tagger

    def results(self):
        """Yield a Tagged for every picture given to start(), in order."""
        self.load()
        if not self.paths:
            return
        names = list(self.tagger.ratings)
        for item, row, rated in predict_stream(self.tagger, self.stream,
                                               self.decoding.batch_size):
            if row is None:
                yield Tagged(item.path, error=item.error)
            else:
                yield Tagged(item.path, row, self.choice.pick(row, self.tagger),
                             picture_file=item.picture_file,
                             ratings={n: float(v) for n, v in zip(names, rated)})

    def score(self, paths, on_result=None):
        """(n, tags) scores of `paths` (NaN rows for pictures that could not be read)."""
        self.start(paths)
        self.load()
        scores = np.full((len(self.paths), len(self.tagger.tags)), np.nan, np.float32)
        for i, result in enumerate(self.results()):
            if result.scores is not None:
                scores[i] = result.scores
            if on_result:
                on_result(result)
        return scores


def predict_stream(tagger, decoded, batch_size):
    """Yield (Decoded, tag scores or None, rating scores or None) in order, predicting
    `batch_size` pictures at once."""
    batch = []
    for item in decoded:
        if item.error is not None:
            yield from _flush(tagger, batch)
            batch = []
            yield item, None, None
            continue
        batch.append(item)
        if len(batch) == batch_size:
            yield from _flush(tagger, batch)
            batch = []
    yield from _flush(tagger, batch)


def _flush(tagger, batch):
    if not batch:
        return
    scores, ratings = tagger.predict_rated(np.stack([b.array for b in batch]), len(batch))
    for item, row, rated in zip(batch, scores, ratings):
        item.array = None  # done with it: the batch's memory goes as soon as it is tagged
        yield item, row, rated
