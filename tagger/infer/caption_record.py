"""tag.py --output-path: every picture's caption in one file instead of beside each picture,
in the two formats of kohya-ss sd-scripts' tag_images_by_wd14_tagger.py --output_path, which
its fine-tuning data sets read:

- FILE.json: {"<picture>": {"tags": "<caption>", "image_size": [width, height]}, ...}
  (indented by 4, not ASCII-escaped);
- FILE.jsonl: one {"image_path": ..., "caption": ..., "image_size": [width, height]} a line.

The file is written whole at the end, under a temporary name and renamed (an existing one
only with --overwrite, backed up first).
"""
import json
import os
from pathlib import Path

from .kohya_order import split_tags
from .writer import check_replaceable

ENCODING = dict(encoding="utf-8", errors="surrogateescape")  # any picture name round-trips


def check_output_path(path, overwrite):
    """Refuse, before anything is tagged, a name that is neither .json nor .jsonl, and an
    existing file without --overwrite (OSError or ValueError, one line)."""
    if Path(path).suffix.lower() not in (".json", ".jsonl"):
        raise ValueError(f"--output-path {path}: name it .json or .jsonl (kohya's two formats)")
    check_replaceable(path, overwrite)


def picture_size(path):
    """[width, height] of a picture, from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return list(img.size)


def recorded_caption(path, tags, separator, append):
    """A picture's caption for the record: with `append`, its existing caption file's tags
    first and the new ones after, each once, as kohya's --append_tags writes it."""
    if not append or not path.is_file():
        return separator.join(tags)
    try:
        have = split_tags(path.read_text(encoding="utf-8").strip("\n"), separator)
    except UnicodeDecodeError:
        have = []
    return separator.join(have + [t for t in tags if t not in have])


class CaptionRecord:
    """The captions of one run, kept until written whole to `path`."""

    def __init__(self, path):
        self.path, self.entries = Path(path), {}

    def add(self, picture, caption):
        self.entries[str(picture)] = (caption, picture_size(picture))

    def text(self):
        if self.path.suffix.lower() == ".jsonl":
            return "".join(json.dumps({"image_path": p, "caption": c, "image_size": s}) + "\n"
                           for p, (c, s) in self.entries.items())
        return json.dumps({p: {"tags": c, "image_size": s} for p, (c, s) in self.entries.items()},
                          ensure_ascii=False, indent=4)

    def write(self, writer, overwrite):
        """Write the record whole through `writer` (an existing file only with `overwrite`)."""
        with writer.replacing(self.path, replace=overwrite) as tmp:
            with open(tmp, "x", newline="", **ENCODING) as f:
                f.write(self.text())
                f.flush()
                os.fsync(f.fileno())
