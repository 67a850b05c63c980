"""deal.py's plan: what to resize, what to relabel and relink, which tag folders are stale.

An image counts as done when its resized file exists (written whole under a temporary
name, at the size deal_args.json records), so a deleted resized/ is made again. A done
image is relabelled from the current dictionary and linked into the folders of tags it did
not have in labels.csv (a changed dictionary) or whose folder is gone, never resized again;
entries that check.py removed (its records, see tagger.data.removals) are never linked again.
"""
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..core.files import link_or_copy, move_aside
from ..core.folders import DataFolder
from .grouping import Job
from .safebooru import BadRow
from ..core.tags import tag_to_folder


@dataclass
class Plan:
    """The work of one deal.py run, and what planning it counted."""
    jobs: list = field(default_factory=list)     # Job per image to resize
    links: list = field(default_factory=list)    # (resized file, link) of done images
    relabelled: int = 0                          # done images whose dictionary tags changed
    counts: Counter = field(default_factory=Counter)  # rows already done, not downloaded...
    errors: list = field(default_factory=list)   # (row, id, path, reason) of the bad rows


@dataclass(frozen=True)
class Layout:
    """Where deal.py reads and writes, and how it resizes."""
    data: DataFolder
    images_dir: Path
    images: dict      # id -> file name under images_dir
    size: int
    fit: str
    overwrite: bool


def make_plan(rows, dic, labels, removed, layout):
    """Build the plan for the CSV `rows`; update `labels` of done images. `removed`: the
    (folder, id) entries check.py took out, never linked again."""
    data, folder_of = layout.data, {t: tag_to_folder(t) for t in dic}  # once per tag, not row
    done_files = set(os.listdir(data.resized)) if data.resized.is_dir() else set()
    gone = {f for f in folder_of.values() if not (data.tag_folders / f).is_dir()}
    plan = Plan()
    for row in rows:
        if isinstance(row, BadRow):
            plan.errors.append((row.row, row.id, "", f"bad row: {row.reason}"))
            continue
        tags = tuple(t for t in row.tags if t in folder_of)
        if not tags:
            plan.counts["no dictionary tag"] += 1
            plan.relabelled += labels.pop(row.id, None) is not None
            continue
        resized = data.resized_image(row.id)
        links = [(t, data.tag_folders / folder_of[t] / resized.name) for t in tags
                 if (folder_of[t], row.id) not in removed]
        if resized.name in done_files and not layout.overwrite:
            plan.counts["already done"] += 1
            before = labels[row.id][1] if row.id in labels else ()
            plan.relabelled += before != tags
            labels[row.id] = (data.resized_name(row.id), tags)
            plan.links += [(resized, link) for t, link in links
                           if t not in before or link.parent.name in gone]
        elif row.id not in layout.images:
            plan.counts["not downloaded"] += 1
        else:
            plan.jobs.append(Job(row.row, row.id, str(layout.images_dir / layout.images[row.id]),
                                 str(resized), tuple(str(p) for _, p in links),
                                 layout.size, layout.fit, tags))
    return plan


def link_done(pairs):
    """Link done images into tag folders where the link is missing; return how many."""
    made = 0
    for source, link in pairs:
        if not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(source, link)
            made += 1
    return made


def move_stale_folders(out, dic, dest):
    """Move the tag folders of tags no longer in the dictionary into `dest`; return them."""
    keep = {tag_to_folder(t) for t in dic}
    stale = [e.path for e in os.scandir(out) if e.is_dir() and not e.name.startswith(".")
             and e.name not in keep] if Path(out).is_dir() else []
    return [move_aside(path, dest) for path in sorted(stale)]
