"""tag.py's --scores file: every tag's score per picture, one row per picture, appended as
pictures are tagged (CSV: `image,<tag>,...`; JSONL: {"image": ..., "scores": {tag: score}}).

Only a file proven to be one of these is continued (its pictures are done) or repaired (a row
cut short by a kill is dropped); any other file is refused before anything is written.
Picture names round-trip whatever they hold: bytes that are not UTF-8 (written as the file
system gives them), line breaks, commas and quotes.
"""
import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

ENCODING = dict(encoding="utf-8", errors="surrogateescape")


@dataclass
class ScoresState:
    """What an existing scores file holds: its tags, the pictures with a complete row, and
    the byte length of its complete rows (anything after it was cut short by a kill)."""
    tags: list
    done: set
    complete: int
    size: int


def is_jsonl(path):
    """JSONL for .jsonl, CSV for .csv; ValueError for anything else (a .json file would be
    taken for one JSON document, which a scores file written a row at a time is not)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        raise ValueError(f"--scores {path}: a scores file is written a row at a time, one JSON "
                         f"object per line: name it .jsonl (or .csv)")
    if suffix not in (".jsonl", ".csv"):
        raise ValueError(f"--scores {path}: name it .csv or .jsonl")
    return suffix != ".csv"


def not_ours(path, why):
    return ValueError(f"--scores {path} is not a scores file of tag.py ({why}); it was left as "
                      f"it is: pass a new file name")


def read_scores(path):
    """The ScoresState of an existing scores file, None when there is none (or it is empty);
    ValueError, before anything is written, for a file that is not one of tag.py's."""
    path = Path(path)
    jsonl = is_jsonl(path)
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        raise not_ours(path, "it is not a file")
    data = path.read_bytes()
    if not data:
        return None
    text = data.decode(**ENCODING)
    state = _read_jsonl(path, text) if jsonl else _read_csv(path, text)
    state.complete = len(text[:state.complete].encode(**ENCODING))
    state.size = len(data)
    return state


def _read_csv(path, text):
    end, parity, pos = 0, 0, 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        parity = (parity + line.count('"')) % 2
        if line.endswith("\n") and not parity:
            end = pos  # a record ends here; a quoted name may hold line breaks
    rows = list(csv.reader(io.StringIO(text[:end], newline="")))
    if not rows or rows[0][:1] != ["image"] or len(rows[0]) < 2:
        raise not_ours(path, "its first line is not image,<tag>,...")
    width = len(rows[0])
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != width or not all(_is_number(v) for v in row[1:]):
            raise not_ours(path, f"record {n} is not a picture's scores")
    return ScoresState(rows[0][1:], {r[0] for r in rows[1:]}, end, 0)


def _is_number(value):
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_jsonl(path, text):
    end = text.rfind("\n") + 1
    tags, done = None, set()
    for n, line in enumerate(text[:end].split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise not_ours(path, f"line {n} is not JSON") from None
        if not (isinstance(row, dict) and isinstance(row.get("image"), str)
                and isinstance(row.get("scores"), dict)):
            raise not_ours(path, f"line {n} is not a picture's scores")
        tags = list(row["scores"]) if tags is None else tags
        if set(row["scores"]) != set(tags):
            raise not_ours(path, f"line {n} holds other tags than line 1")
        done.add(row["image"])
    if tags is None:
        raise not_ours(path, "it holds no picture's scores")
    return ScoresState(tags, done, end, 0)


class ScoresFile:
    """A scores file being written: continued if `state` (read_scores) is given, else new;
    the rows survive a kill every `flush_every` rows."""

    def __init__(self, path, tags, writer, state=None, overwrite=False, flush_every=64):
        self.path, self.tags, self.flush_every, self.added = Path(path), list(tags), flush_every, 0
        self.jsonl = is_jsonl(path)
        if state is not None and not overwrite and not self._same_tags(state.tags):
            raise ValueError(f"--scores {path} holds the scores of other tags (another run); "
                             f"pass another file, or --overwrite (the old one is backed up)")
        if state is None or overwrite:
            self.done = set()
            with writer.replacing(self.path, replace=True) as tmp:  # a file proven ours, or empty
                with open(tmp, "x", newline="", **ENCODING) as f:
                    if not self.jsonl:
                        f.write(self._csv_line(["image", *self.tags]))
        else:
            self.done = set(state.done)
            if state.complete < state.size:  # a row cut short by a kill, in a file of ours
                os.truncate(self.path, state.complete)
        self.file = open(self.path, "a", newline="", **ENCODING)

    @classmethod
    def opened(cls, path, tags, writer, state=None, overwrite=False, flush_every=64):
        """The ScoresFile for `path`, or None without a path."""
        return cls(path, tags, writer, state, overwrite, flush_every) if path is not None else None

    def _same_tags(self, tags):
        return set(tags) == set(self.tags) if self.jsonl else list(tags) == self.tags

    @staticmethod
    def _csv_line(values):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue()

    def add(self, image, scores):
        """Append one picture's row, unless the file already holds one."""
        key = str(image)
        if key in self.done:
            return
        if self.jsonl:
            row = {"image": key,
                   "scores": {t: round(float(s), 5) for t, s in zip(self.tags, scores)}}
            self.file.write(json.dumps(row) + "\n")
        else:
            name = '"' + key.replace('"', '""') + '"'  # always quoted: csv leaves a lone \r bare
            self.file.write(",".join([name, *(f"{float(s):.5f}" for s in scores)]) + "\n")
        self.done.add(key)
        self.added += 1
        if self.added % self.flush_every == 0:
            self.flush()

    def flush(self):
        """Make the rows written so far survive a kill."""
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
