"""Which pictures test.py scores a tagger on: the held-out split its run recorded, or the rows
of a Safebooru CSV that the run did not train on, from the run's data folder.

A Keras run and its exports (which keep the run's split.csv and settings) are scored alike;
a tagger with no split of its own (a public WD14 tagger) cannot be, and says so.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.folders import DataFolder, RunFolder
from ..data.fetch import existing_images
from ..data.safebooru import BadRow, read_rows
from ..train.dataset import load_examples, read_split
from .session import TaggerError


@dataclass
class HeldOut:
    """The pictures to score: ids, image paths, true labels (n, tags), and what they are."""
    ids: np.ndarray
    paths: list
    labels: np.ndarray
    which: str
    left_out: Counter = field(default_factory=Counter)  # CSV rows not scored, by reason


def split_of(tagger, source):
    """The run's recorded split {id: train|val|test}; TaggerError for a tagger without one."""
    path = RunFolder(tagger.path).split
    if not path.is_file():
        raise TaggerError(f"{source} has no split.csv, so test.py cannot tell which pictures "
                          f"it was not trained on: it scores a run folder or an export of one "
                          f"(export.py keeps the run's split beside it), not a tagger trained "
                          f"elsewhere")
    return read_split(path)


def data_folder(tagger, given):
    """--data-dir, else the data folder the run was trained on, wherever this runs from."""
    if given:
        return DataFolder(given)
    found = RunFolder(tagger.path).data_folder(tagger.settings)
    if found:
        return found
    recorded = RunFolder.data_dirs(tagger.settings)
    where = (" (" + ", ".join(map(str, recorded[1:])) + " from where train.py ran)"
             if len(recorded) > 1 else "")
    raise TaggerError(f"{tagger.path} was trained on the data folder "
                      f"{recorded[0] if recorded else '?'}{where}, which is not there from "
                      f"{Path.cwd()}; pass --data-dir with that folder (the one holding "
                      f"{DataFolder('.').labels.name} and {DataFolder('.').tag_folders.name}/)")


def check_image_size(tagger, data):
    """Refuse a data folder whose images deal.py made at another size or fit than the run's."""
    settings = tagger.settings
    trained_on = any(p.resolve() == data.path.resolve() for p in RunFolder.data_dirs(settings))
    if trained_on or not data.dealt:
        return  # the folder it trained on: train.py may have resized its images on purpose
    size, fit = int(settings.get("image_size", tagger.image_size)), settings.get("fit", tagger.fit)
    if (data.image_size, data.fit) != (size, fit):
        raise TaggerError(f"{data.path} holds {data.image_size}x{data.image_size} images "
                          f"({data.fit}) but {tagger.path} was trained on {size}x{size} "
                          f"({fit}); run deal.py with --image-size {size} --fit {fit} into "
                          f"another --data-dir, or pass the data folder the run was trained on")


def held_out_split(tagger, split, data, which, limit):
    """HeldOut of the run's held-out split (`which`: auto, val or test)."""
    if which == "auto":
        which = "test" if "test" in split.values() else "val"
    examples = load_examples(data.path, tagger.tags)
    chosen = examples.subset(np.array([split.get(int(i)) == which for i in examples.ids]))
    if not len(chosen.ids):
        raise TaggerError(f"no held-out images to score: none of the run's "
                          f"{list(split.values()).count(which):,} {which} images is among the "
                          f"{len(examples.ids):,} images of {data.path} ({data.labels.name} and "
                          f"{data.tag_folders.name}/); pass --data-dir with the data folder "
                          f"{tagger.path} was trained on")
    n = limit or len(chosen.ids)
    return HeldOut(chosen.ids[:n], list(chosen.paths[:n]), chosen.labels[:n], which)


def csv_rows(tagger, split, data, csv_path, limit):
    """HeldOut of the CSV rows that are downloaded and were not trained on; the rows left out
    are counted by reason."""
    trained = {i for i, s in split.items() if s == "train"}
    images_dir = data.images
    images = existing_images(images_dir)
    ids, paths, labels, left_out = [], [], [], Counter()
    for row in read_rows(csv_path):
        reason = ("bad row" if isinstance(row, BadRow) else "trained on" if row.id in trained
                  else f"not downloaded (not in {images_dir})" if row.id not in images else None)
        if reason:
            left_out[reason] += 1
            continue
        ids.append(row.id)
        paths.append(str(images_dir / images[row.id]))
        labels.append([1.0 if t in row.tags else 0.0 for t in tagger.tags])
        if limit and len(ids) == limit:
            break
    labels = np.array(labels, np.float32).reshape(-1, len(tagger.tags))
    return HeldOut(np.array(ids), paths, labels, str(csv_path), left_out)


def keep_scored(held, scores):
    """The HeldOut and scores without the pictures that could not be read (counted)."""
    ok = ~np.isnan(scores).any(axis=1)
    if not ok.all():
        held.left_out["unreadable"] += int((~ok).sum())
    kept = HeldOut(held.ids[ok], [p for p, k in zip(held.paths, ok) if k], held.labels[ok],
                   held.which, held.left_out)
    return kept, scores[ok]


def left_out_line(held, csv_path):
    """How many rows of the CSV were not scored, and why (None when all were)."""
    if not held.left_out:
        return None
    reasons = ", ".join(f"{n:,} {why}" for why, n in held.left_out.most_common())
    return f"left out {sum(held.left_out.values()):,} rows of {csv_path}: {reasons}"
