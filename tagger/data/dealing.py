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


CHUNK_ROWS = 4096  # CSV rows planned and resized at a time: the run's bounded window


@dataclass
class Plan:
    """The work of one window of CSV rows, and what planning it counted."""
    jobs: list = field(default_factory=list)     # Job per image to resize
    links: list = field(default_factory=list)    # (resized file, link) of done images
    relabelled: int = 0                          # done images whose dictionary tags changed
    counts: Counter = field(default_factory=Counter)  # rows already done, not downloaded...


@dataclass(frozen=True)
class Layout:
    """Where deal.py reads and writes, and how it resizes. `gone`: the tag folders missing
    when the run began (their done images are linked again)."""
    data: DataFolder
    images_dir: Path
    size: int
    fit: str
    overwrite: bool
    gone: frozenset = frozenset()


def missing_folders(data, dic):
    """The dictionary's tag folders that do not exist (yet), before deal.py makes them."""
    return frozenset(f for f in {tag_to_folder(t) for t in dic}
                     if not (data.tag_folders / f).is_dir())


def make_plan(rows, dic, state, layout):
    """Build the plan for the CSV `rows` (one window); update the labels of done images in
    `state` (a DealState, which also knows the downloads, check.py's removals and takes the
    bad rows)."""
    data, folder_of = layout.data, {t: tag_to_folder(t) for t in dic}
    plan = Plan()
    for row in rows:
        if isinstance(row, BadRow):
            state.add_error(row.row, row.id, "", f"bad row: {row.reason}")
            continue
        tags = tuple(t for t in row.tags if t in folder_of)
        if not tags:
            plan.counts["no dictionary tag"] += 1
            plan.relabelled += state.drop_label(row.id)
            continue
        resized = data.resized_image(row.id)
        removed = state.removed_folders(row.id)
        links = [(t, data.tag_folders / folder_of[t] / resized.name) for t in tags
                 if folder_of[t] not in removed]
        if not layout.overwrite and os.path.exists(resized):
            plan.counts["already done"] += 1
            before = state.tags(row.id) or ()
            plan.relabelled += before != tags
            state.set_label(row.id, data.resized_name(row.id), tags)
            plan.links += [(resized, link) for t, link in links
                           if t not in before or link.parent.name in layout.gone]
            continue
        name = state.image(row.id)
        if name is None:
            plan.counts["not downloaded"] += 1
        else:
            plan.jobs.append(Job(row.row, row.id, str(layout.images_dir / name), str(resized),
                                 tuple(str(p) for _, p in links), layout.size, layout.fit,
                                 tags))
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
