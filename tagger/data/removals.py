"""What check.py took out of the tag folders, as its records say, and putting it back.

check.py moves invalid and duplicate entries to DATA_DIR/quarantine/ (logged in
quarantine/reasons.csv) and unlinks the entries over a tag folder's cap (logged in
capped.csv). deal.py reads these records so that it never links those entries again, and
`check.py --restore` moves them back and clears the records.
"""
import csv
import os
import shutil

from ..core.files import atomic_csv_writer, link_or_copy, read_csv_dicts
from ..core.tags import tag_to_folder

CAPPED_HEADER = ("tag", "id")
REASONS_HEADER = ("entry", "moved_to", "reason")  # of the quarantine's reasons and deleted alike


def removed_entries(data):
    """{(folder, id)} of the tag-folder entries check.py capped, quarantined or deleted in
    `data` (a DataFolder)."""
    return set(iter_removed(data))


def iter_removed(data):
    """Yield (folder, id) of each entry check.py's records say it removed, streaming."""
    for r in _stream(data.capped):
        if r["id"].isdigit():
            yield tag_to_folder(r["tag"]), int(r["id"])
    for log in (data.quarantine_reasons, data.deleted):
        for r in _stream(log):
            folder, _, name = r["entry"].rpartition("/")
            stem = name.split(".")[0]
            if stem.isdigit():
                yield folder, int(stem)


def _stream(path):
    """The rows of a CSV with a header as dicts, one at a time (none if it is absent)."""
    if os.path.isfile(path):
        with open(path, newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)


def restore_quarantined(data):
    """Move every quarantined entry back to its tag folder; return (restored, left) counts.

    An entry whose place is taken again (deal.py --overwrite linked it anew) stays in the
    quarantine and in reasons.csv, so nothing is overwritten."""
    root, left, restored = data.tag_folders, [], 0
    for r in read_csv_dicts(data.quarantine_reasons):
        source, target = data.path / r["moved_to"], root / r["entry"]
        if not r["moved_to"] or not source.is_file() or target.exists():
            if r["moved_to"] and source.is_file():
                left.append((r["entry"], r["moved_to"], r["reason"]))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
        restored += 1
    if data.quarantine_reasons.exists():
        with atomic_csv_writer(data.quarantine_reasons, REASONS_HEADER) as writer:
            writer.writerows(left)
    return restored, len(left)


def restore_capped(data):
    """Link every capped entry back from the resized images; return (restored, missing)
    counts."""
    restored, missing = 0, []
    for r in read_csv_dicts(data.capped):
        source = data.resized_image(r["id"])
        folder = data.tag_folders / tag_to_folder(r["tag"])
        if not source.is_file():
            missing.append((r["tag"], r["id"]))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if not os.path.exists(folder / source.name):
            link_or_copy(source, folder / source.name)
            restored += 1
    if data.capped.exists():
        with atomic_csv_writer(data.capped, CAPPED_HEADER) as writer:
            writer.writerows(missing)
    return restored, len(missing)
