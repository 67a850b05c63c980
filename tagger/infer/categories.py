"""Tag categories of WD-layout taggers, read as kohya-ss sd-scripts'
tag_images_by_wd14_tagger.py reads them.

- `selected_tags.csv` (tag_id,name,category,count): Danbooru's category codes, 0 general,
  1 artist, 3 copyright, 4 character, 5 meta, and 9 for the rating pseudo-tags.
- `tag_mapping.json` (the cl_tagger layout): {"<output index>": {"tag": ..., "category":
  "General"}, ...}, categories named Rating, General, Character, Copyright, Meta, Model,
  Quality, Artist (the ports' other form, {"idx_to_tag": ..., "tag_to_category": ...}, too).

Ratings (and cl_tagger's quality tags) are never chosen by a threshold: a picture gets the
rating that scores highest. Every tag of this project's own runs and exports is general.
"""
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WD_CODES = {"0": "general", "1": "artist", "3": "copyright", "4": "character", "5": "meta",
            "9": "rating"}
MAPPING_NAMES = ("Rating", "General", "Character", "Copyright", "Meta", "Model", "Quality",
                 "Artist")  # kohya's list; anything else is refused, as kohya refuses it
THRESHOLDED = ("general", "character", "copyright", "artist", "meta", "model")
RATING = "rating"
QUALITY = "quality"  # cl_tagger's: read, and left out of captions (kohya needs a flag for them)
MCUT_FLOOR = {"character": 0.15}  # imgutils never lets MCut take a character below this


@dataclass
class Labels:
    """What a tag list says about a model's output columns: each column's name and category
    (None for a column the list does not name)."""
    names: list
    categories: list
    source: Path

    def columns(self, *categories):
        """The output columns of these categories, in order."""
        return np.array([i for i, c in enumerate(self.categories) if c in categories], int)

    @property
    def tag_columns(self):
        return self.columns(*THRESHOLDED)

    def check_width(self, width, model_file):
        """Refuse, in one line, a tag list whose rows are not the model's outputs."""
        rows = sum(n is not None for n in self.names)
        if isinstance(width, int) and (width != rows or width < len(self.names)):
            raise ValueError(f"{self.source} has {rows} rows but {model_file} has {width} "
                             f"outputs: the tag list belongs to another model; copy the one "
                             f"that came with it")


def read_selected_tags(path):
    """(names, category codes) of a WD selected_tags.csv (header tag_id,name,category,count)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"name", "category"} <= set(rows[0]):
        raise ValueError(f"{path}: not a WD14 tag list (needs the columns name and category)")
    return [r["name"] for r in rows], [(r["category"] or "").strip() for r in rows]


def wd_labels(path):
    """The Labels of a WD selected_tags.csv; a category code outside WD's is refused."""
    names, codes = read_selected_tags(path)
    for n, code in enumerate(codes, start=2):
        if code not in WD_CODES:
            raise ValueError(f"{path}, line {n}: category {code!r} is none of the WD codes "
                             f"({', '.join(f'{k} {v}' for k, v in WD_CODES.items())})")
    return Labels(names, [WD_CODES[c] for c in codes], Path(path))


def mapping_entries(data, path):
    """{output index: (tag, category name)} of a tag_mapping.json's parsed `data`."""
    if isinstance(data, dict) and "idx_to_tag" in data:
        by_tag = data.get("tag_to_category") or {}
        return {int(k): (v, by_tag.get(v)) for k, v in data["idx_to_tag"].items()}
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: not a cl_tagger tag mapping (a JSON object of "
                         f"{{\"<index>\": {{\"tag\": ..., \"category\": ...}}}} expected)")
    return {int(k): (v["tag"], v["category"]) for k, v in data.items()}


def read_tag_mapping(path):
    """The Labels of a cl_tagger tag_mapping.json, by output index."""
    path = Path(path)
    try:
        entries = mapping_entries(json.loads(path.read_text(encoding="utf-8")), path)
    except (ValueError, KeyError, TypeError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a cl_tagger tag mapping ({type(exc).__name__}: {exc}); "
                         f"copy the one that came with the model") from None
    if min(entries) < 0:
        raise ValueError(f"{path}: output index {min(entries)} is negative")
    names, categories = [None] * (max(entries) + 1), [None] * (max(entries) + 1)
    for index, (tag, category) in sorted(entries.items()):
        if category not in MAPPING_NAMES:
            raise ValueError(f"{path}: tag {index} ({tag!r}) has the category {category!r}, "
                             f"none of {', '.join(MAPPING_NAMES)}")
        names[index], categories[index] = str(tag), category.lower()
    return Labels(names, categories, path)


def mcut_threshold(scores):
    """Maximum Cut Thresholding (Largeron et al. 2012) as imgutils computes it: the middle of
    the widest gap between neighbouring scores; None for fewer than two scores."""
    if len(scores) < 2:
        return None
    ordered = np.sort(np.asarray(scores, np.float64))[::-1]
    gap = int(np.argmax(ordered[:-1] - ordered[1:]))
    return float((ordered[gap] + ordered[gap + 1]) / 2)


class Uncategorised:
    """What the taggers of this project's own runs say about categories: every tag general,
    no ratings (mixed into Run and LiteRtRun, which offer tags and predict())."""
    ratings = ()

    @property
    def categories(self):
        return ["general"] * len(self.tags)

    def predict_rated(self, arrays, batch_size=64):
        """(tag scores, rating scores (n, 0)) for uint8 RGB arrays."""
        scores = self.predict(arrays, batch_size)
        return scores, np.zeros((len(scores), 0), np.float32)
