"""Captions in the conventions of the tools people caption training sets with (kohya-ss
sd-scripts' tag_images_by_wd14_tagger.py): a text file beside each picture, tags joined
by a separator; and a scores file (CSV or JSONL) that a killed run can continue.
"""
import contextlib
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.progress import plural
from .pictures import plan_names, renamed_lines, with_suffix


def split_tags(text, separator=", "):
    """Tags in a caption or a flag's list, split at the separator without its spaces."""
    mark = separator.strip() or separator
    return [t.strip() for t in text.split(mark) if t.strip()]


def display_name(tag, remove_underscore):
    """A tag as written into a caption: kohya's --remove-underscore turns `long_hair` into
    `long hair` but leaves tags of three characters or fewer (emoticons such as `^_^`)."""
    return tag.replace("_", " ") if remove_underscore and len(tag) > 3 else tag


@dataclass
class CaptionStyle:
    """How chosen tags become a caption."""
    separator: str = ", "
    remove_underscore: bool = False
    undesired: frozenset = field(default_factory=frozenset)  # as typed, either spelling
    always_first: tuple = ()
    max_tags: int = 0  # 0 = no limit

    def tags(self, chosen):
        """Caption tags from [(tag, score)] most likely first: undesired ones left out,
        at most max_tags, then the always-first ones moved to the front in their order."""
        shown = [(t, display_name(t, self.remove_underscore)) for t, _ in chosen]
        names = [n for t, n in shown if t not in self.undesired and n not in self.undesired]
        if self.max_tags:
            names = names[:self.max_tags]
        first = [display_name(t, self.remove_underscore) for t in self.always_first]
        first = [t for t in dict.fromkeys(first) if t in names]
        return first + [t for t in names if t not in first]

    def text(self, tags, existing=None):
        """The caption file's text; with `existing` (--append) that caption's tags come
        first and only new tags are added after them."""
        if existing is not None:
            old = split_tags(existing, self.separator)
            tags = old + [t for t in tags if t not in old]
        return self.separator.join(tags) + "\n"


def write_text(path, text):
    """Write a small text file so it appears only complete (temporary name, then rename)."""
    from ..core.files import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


class ScoresFile:
    """Every picture's every tag score, one row per picture, appended as pictures are
    tagged (CSV: `image,<tag>,...`; JSONL: {"image": ..., "scores": {tag: score}}).

    An existing file of the same tags is continued: its pictures are `done`, and rows cut
    short by a kill are dropped; --overwrite starts it again.
    """

    def __init__(self, path, tags, overwrite=False):
        self.path, self.tags = Path(path), list(tags)
        self.jsonl = self.path.suffix.lower() in (".jsonl", ".json")
        if not self.jsonl and self.path.suffix.lower() != ".csv":
            raise ValueError(f"--scores {path}: name it .csv or .jsonl")
        self.done = set() if overwrite else self._read_existing()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w" if overwrite or not self.done else "a",
                         encoding="utf-8", newline="")
        if self.file.tell() == 0 and not self.jsonl:
            self.file.write(self._csv_line(["image", *self.tags]))

    @classmethod
    def opened(cls, path, tags, overwrite=False):
        """The scores file to continue, or a context of None without a path."""
        return cls(path, tags, overwrite) if path is not None else contextlib.nullcontext()

    @staticmethod
    def images_in(path):
        """The pictures a scores file already holds a complete row for (none if absent)."""
        path = Path(path)
        if not path.is_file():
            return set()
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        lines = [line for line in lines if line.endswith("\n")]
        if path.suffix.lower() == ".csv":
            return {row[0] for row in csv.reader(lines[1:]) if row}
        return {json.loads(line)["image"] for line in lines if line.strip()}

    def _read_existing(self):
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return set()
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # a row cut short by a kill is dropped
        if end != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
        complete = data[:end].decode("utf-8")
        if self.jsonl:
            rows = [json.loads(line) for line in complete.splitlines() if line.strip()]
            if rows and set(rows[0]["scores"]) != set(self.tags):
                raise ValueError(self._other_tags())
            return {r["image"] for r in rows}
        rows = list(csv.reader(io.StringIO(complete)))
        if rows and rows[0] != ["image", *self.tags]:
            raise ValueError(self._other_tags())
        return {r[0] for r in rows[1:]}

    def _other_tags(self):
        return (f"--scores {self.path} holds the scores of other tags (another run); "
                f"pass another file or --overwrite")

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
            row = {"image": key, "scores": {t: round(float(s), 5) for t, s in zip(self.tags, scores)}}
            self.file.write(json.dumps(row) + "\n")
        else:
            self.file.write(self._csv_line([key, *(f"{float(s):.5f}" for s in scores)]))
        self.done.add(key)

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


def frequency_table(counts, pictures, top):
    """Lines of the `top` most frequent caption tags with their count and share."""
    if not counts or not top:
        return []
    rows = counts.most_common(top)
    width = max(len(tag) for tag, _ in rows)
    lines = [f"{'tag':<{width}}  {'pictures':>8}  share"]
    lines += [f"{tag:<{width}}  {n:>8,}  {n / max(pictures, 1):6.1%}" for tag, n in rows]
    return lines


@dataclass
class CaptionPlan:
    """What tag.py will do: each picture's caption path, the pictures to caption, the ones to
    run through the model (to caption, or only for a missing --scores row), those skipped
    because they are captioned, and those named after their whole file name."""
    captions: dict
    to_caption: set
    todo: list
    skipped: list
    renamed: list


def plan_captions(paths, extension, append, overwrite, scored):
    """A CaptionPlan for `paths`; `scored`: the pictures a --scores file already holds."""
    names, renamed = plan_names(paths, lambda p: p.parent)
    captions = {p: with_suffix(names[p], extension) for p in paths}
    to_caption = {p for p in paths if append or overwrite or not captions[p].exists()}
    todo = [p for p in paths if p in to_caption or (scored is not None and str(p) not in scored)]
    return CaptionPlan(captions, to_caption, todo, [p for p in paths if p not in to_caption],
                       renamed)


def write_caption(path, tags, style, append):
    """Write one picture's caption (added to its existing one with `append`)."""
    existing = None
    if append and path.exists():
        existing = path.read_text(encoding="utf-8", errors="replace")
    write_text(path, style.text(tags, existing))


def caption_summary(plan, tagged, failed, extension):
    """tag.py's closing lines: what was written, skipped, refused, and renamed."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += renamed_lines(plan.renamed, "captioned", lambda p: plan.captions[p].name)
    text = (f"captioned {plural(tagged, 'picture')} ({extension} beside each)"
            f", already captioned {len(plan.skipped):,} (skipped; --overwrite or --append to "
            f"redo)")
    if failed:
        text += f", unreadable {len(failed):,}"
    if plan.renamed:
        text += (f", {len(plan.renamed):,} named after their whole file name because their "
                 f"stems clash (a trainer looking for <stem>{extension} will not find them: "
                 f"rename the pictures)")
    return lines + [text]
