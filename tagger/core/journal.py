"""Progress written down as it happens, so that a run killed at any point (kill -9 too) is
finished by the same command without redoing more than its last moments' work.

Two kinds: a `Journal`, an append-only file of JSON records, one a line, each flushed to the
operating system as it is added (work done so far); and a plan (`write_plan`), a JSON file
written whole, before the changes it lists are made, so that a rerun makes exactly the
same changes (work about to be done). A kill leaves at most a torn last line, which is
dropped when the journal is read back.
"""
import json
import os
from pathlib import Path

from .files import atomic_path


class Journal:
    """An append-only JSON-lines file; records() reads back what earlier runs appended."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = None

    def records(self):
        """Every complete record, oldest first (a line torn by a kill is left out)."""
        return list(self.each())

    def each(self):
        """The records of records(), one at a time (memory flat whatever the journal's size)."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    try:
                        yield json.loads(line)
                    except ValueError:
                        pass

    def append(self, record):
        """Add one record, on disk (in the OS's cache) when this returns."""
        if self._file is None:
            self._drop_torn_tail()
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def _drop_torn_tail(self):
        """Cut a last line a killed writer left half-written, so appends start on a new line."""
        if not self.path.is_file():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self):
        """The work is finished: remove the journal."""
        self.close()
        self.path.unlink(missing_ok=True)


def write_plan(path, plan):
    """Write a plan (JSON-ready) whole, under its final name only when complete."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(plan, f)


def read_plan(path):
    """The plan an unfinished run left, or None."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def discard_plan(path):
    os.unlink(path)
