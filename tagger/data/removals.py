"""What check.py took out of the tag folders, as its records say, and putting it back.

check.py moves invalid and duplicate entries to DATA_DIR/quarantine/ (logged in
quarantine/reasons.csv) and unlinks the entries over a tag folder's cap (logged in
capped.csv). deal.py reads these records so that it never links those entries again, and
`check.py --restore` moves them back and clears the records.
"""
import os
import shutil
from pathlib import Path

from ..core.files import atomic_csv_writer, link_or_copy, read_csv_dicts
from ..core.tags import tag_to_folder

CAPPED, REASONS, DELETED = "capped.csv", "quarantine/reasons.csv", "deleted.csv"  # in DATA_DIR
CAPPED_HEADER = ("tag", "id")
REASONS_HEADER = ("entry", "moved_to", "reason")  # of REASONS and DELETED alike


def capped_csv(data_dir):
    return Path(data_dir) / CAPPED


def reasons_csv(data_dir):
    return Path(data_dir) / REASONS


def removed_entries(data_dir):
    """{(folder, id)} of the tag-folder entries check.py capped, quarantined or deleted."""
    removed = {(tag_to_folder(r["tag"]), int(r["id"])) for r in read_csv_dicts(capped_csv(data_dir))
               if r["id"].isdigit()}
    for log in (reasons_csv(data_dir), Path(data_dir) / DELETED):
        for r in read_csv_dicts(log):
            folder, _, name = r["entry"].rpartition("/")
            stem = name.split(".")[0]
            if stem.isdigit():
                removed.add((folder, int(stem)))
    return removed


def restore_quarantined(data_dir):
    """Move every quarantined entry back to its tag folder; return (restored, left) counts.

    An entry whose place is taken again (deal.py --overwrite linked it anew) stays in the
    quarantine and in reasons.csv, so nothing is overwritten."""
    data_dir = Path(data_dir)
    root, left, restored = data_dir / "anime_images", [], 0
    for r in read_csv_dicts(reasons_csv(data_dir)):
        source, target = data_dir / r["moved_to"], root / r["entry"]
        if not r["moved_to"] or not source.is_file() or target.exists():
            if r["moved_to"] and source.is_file():
                left.append((r["entry"], r["moved_to"], r["reason"]))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
        restored += 1
    if reasons_csv(data_dir).exists():
        with atomic_csv_writer(reasons_csv(data_dir), REASONS_HEADER) as writer:
            writer.writerows(left)
    return restored, len(left)


def restore_capped(data_dir):
    """Link every capped entry back from DATA_DIR/resized; return (restored, missing) counts."""
    data_dir = Path(data_dir)
    restored, missing = 0, []
    for r in read_csv_dicts(capped_csv(data_dir)):
        source = data_dir / "resized" / f"{r['id']}.jpg"
        folder = data_dir / "anime_images" / tag_to_folder(r["tag"])
        if not source.is_file():
            missing.append((r["tag"], r["id"]))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if not os.path.exists(folder / source.name):
            link_or_copy(source, folder / source.name)
            restored += 1
    if capped_csv(data_dir).exists():
        with atomic_csv_writer(capped_csv(data_dir), CAPPED_HEADER) as writer:
            writer.writerows(missing)
    return restored, len(missing)
