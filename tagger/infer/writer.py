"""The one writer of the tagging side (tag.py, draw.py, export.py): every file or folder they
write appears whole under its final name, and nothing they did not make is lost.

A run holds the lock of each folder it writes into. Every temporary it makes is first listed
in that folder's journal (`.tagger-journal`, one JSON string a line), written under a temporary name
in the destination folder and renamed; the next run, holding the same lock, removes what a
killed run's journal lists and nothing else. An existing file is replaced only when the user
allowed it (--overwrite, --append), and is first copied to
`<its folder>/.tagger-backup/<YYYYmmdd-HHMMSS>/<name>`, which is never overwritten.
"""
import contextlib
import errno
import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import locks

JOURNAL = ".tagger-journal"
LOCK = ".tagger.lock"
BACKUPS = ".tagger-backup"
MARK = ".tagger-tmp"  # in every temporary name, so a person can tell what it is


class NotReplaced(FileExistsError):
    """A file is in the way and the user did not allow replacing it."""


@dataclass(frozen=True)
class OutputWriter:
    """Writes for one run: `journals` maps each locked place (a folder, or a single file such
    as a --scores file) to its journal. Plain data, so worker processes can write too."""
    journals: dict
    stamp: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))

    def journal_for(self, dest):
        """The journal of the locked place that holds `dest`."""
        dest = Path(os.path.abspath(dest))
        for place in (dest, *dest.parents):
            if place in self.journals:
                return self.journals[place]
        raise ValueError(f"{dest}: outside every folder this run locked (a bug)")

    def temporary(self, dest, suffix=""):
        """A new temporary name beside `dest`, recorded in its journal before it is made."""
        dest = Path(os.path.abspath(dest))
        tmp = dest.with_name(f".{short_name(dest.name)}.{os.getpid()}-{threading.get_ident()}"
                             f"{MARK}{suffix}")
        journal = self.journal_for(dest)
        with open(journal, "a", encoding="ascii") as f:
            f.write(json.dumps(str(tmp)) + "\n")  # one line whatever the name holds
        return tmp

    @contextlib.contextmanager
    def replacing(self, dest, replace=False, suffix=""):
        """Yield a temporary path; when the block succeeds it becomes `dest`. An existing
        `dest` is refused (NotReplaced) unless `replace`, and then backed up first."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        check_replaceable(dest, replace)
        tmp = self.temporary(dest, suffix)
        try:
            yield tmp
            if os.path.lexists(dest):
                check_replaceable(dest, replace)
                self.backup(dest)
                shutil.copymode(dest, tmp)  # a private caption stays private
            os.replace(tmp, dest)
        finally:
            remove(tmp)

    def write_bytes(self, dest, data, replace=False):
        """Write `data` to `dest` whole (see replacing)."""
        with self.replacing(dest, replace) as tmp:
            with open(tmp, "xb") as f:
                f.write(data)

    def backup(self, path):
        """Copy `path` to its folder's backup folder for this run; return the copy."""
        path = Path(path)
        folder = path.parent / BACKUPS / self.stamp
        folder.mkdir(parents=True, exist_ok=True)
        target, n = folder / path.name, 1
        while os.path.lexists(target):
            target, n = folder / f"{path.name}.{n}", n + 1
        shutil.copy2(path, target)
        return target

    def recover(self):
        """Remove what the journals list (a killed run's temporaries), then empty them.
        Call it with the locks held. Returns how many were removed."""
        removed = 0
        for place, journal in self.journals.items():
            for name in read_journal(journal):
                tmp = Path(name)
                if MARK in tmp.name and tmp.name.startswith(".") and \
                        (tmp.parent == place or place in tmp.parents or tmp.parent == place.parent):
                    removed += remove(tmp)
            remove(journal)
        return removed

    def finish(self):
        """At the end of a run: nothing it made is temporary any more."""
        self.recover()


def check_replaceable(dest, replace):
    """Refuse a folder, or an existing file without permission to replace it."""
    if Path(dest).is_dir():
        raise IsADirectoryError(21, "a folder is where this file goes; rename or move it",
                                str(dest))
    if replace and Path(dest).is_symlink():
        raise NotReplaced(17, "is a link, left as it is (replace the file it points to "
                              "yourself, or make it a file)", str(dest))
    if not replace and os.path.lexists(dest):
        raise NotReplaced(17, "exists and is not replaced (--overwrite replaces it, keeping a "
                              f"backup in {Path(dest).parent / BACKUPS})", str(dest))


def read_journal(journal):
    """The names a journal lists (none if it is absent; a line torn by a kill is skipped)."""
    names = []
    try:
        with open(journal, encoding="ascii", errors="replace") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    name = json.loads(line)
                    names += [name] if isinstance(name, str) else []
    except FileNotFoundError:
        pass
    return names


def remove(path):
    """Remove a file or folder this run made; 1 if it was there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return 1
    try:
        os.unlink(path)
        return 1
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # listed by a run before names were shortened
            return 0
        raise


def short_name(name, limit=160):
    """`name`, or for a long one (bytes) its start and a digest, so that a temporary name
    built on it stays within the file systems' 255 bytes."""
    if len(os.fsencode(name)) <= limit:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:16]
    return os.fsdecode(os.fsencode(name)[:100]) + "~" + digest


def journal_beside(path):
    """The journal of a single locked file (a --scores file), beside it."""
    path = Path(os.path.abspath(path))
    return path.with_name(f".{path.name}{JOURNAL}")


def lock_beside(path):
    """The lock of a single file (a --scores file), beside it."""
    path = Path(os.path.abspath(path))
    return path.with_name(f".{path.name}{LOCK}")


def room_for_locks(n):
    """Raise this process's open-file limit, where it allows, so `n` locks stay open (a
    kohya data set of many folders holds one per folder)."""
    try:
        import resource
    except ImportError:  # Windows: no locks are taken there
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256  # the decoding workers' pipes and the files being written
    if soft != resource.RLIM_INFINITY and soft < want:
        limit = want if hard == resource.RLIM_INFINITY else min(want, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


@contextlib.contextmanager
def locked_writer(folders=(), files=(), what="the folder"):
    """Hold the locks of `folders` (each made if missing, and removed again if it is still
    empty at the end) and single `files`, clear what a killed run left in them, and yield
    their OutputWriter; Busy names the other run."""
    folders = list(dict.fromkeys(Path(os.path.abspath(f)) for f in folders))
    files = list(dict.fromkeys(Path(os.path.abspath(f)) for f in files))
    made = [f for f in folders if not os.path.lexists(f)]
    room_for_locks(len(folders) + len(files))
    journals = {f: f / JOURNAL for f in folders}
    journals.update({f: journal_beside(f) for f in files})
    try:
        with contextlib.ExitStack() as stack:
            for folder in folders:
                stack.enter_context(locks.hold(folder / LOCK, f"{what} {folder}"))
            for path in files:
                stack.enter_context(locks.hold(lock_beside(path), f"the file {path}"))
            writer = OutputWriter(journals)
            writer.recover()
            try:
                yield writer
            finally:
                writer.finish()
    finally:
        for folder in made:
            with contextlib.suppress(OSError):  # not empty: it holds what this run wrote
                os.rmdir(folder)
