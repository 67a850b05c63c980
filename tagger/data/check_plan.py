"""check.py's removals, planned whole before any is made, so a killed check is finished exactly.

Every decision (which entries go to the quarantine and under which name, which are
deleted, which links the cap removes, the reports and the lines to print) is written to
DATA_DIR/.check_plan.json before the first file moves. Carrying a plan out can be repeated:
a rerun after a kill finishes it and ends where an uninterrupted run ends. The decoding
before it is journalled picture by picture (DATA_DIR/.check_inspected.jsonl), so a rerun
decodes only the pictures the killed run had not reached.
"""
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

from .checking import by_folder, choose_capped, inspect_all
from ..core.files import atomic_csv_writer, atomic_path, read_csv_dicts
from .grouping import image_paths
from ..core.journal import Journal, discard_plan, read_plan, write_plan
from .removals import CAPPED, CAPPED_HEADER, DELETED, REASONS, REASONS_HEADER

PLAN = ".check_plan.json"
INSPECTED = ".check_inspected.jsonl"
DONE = "check_args.json"  # the settings of the last finished check and the tree it left
REPORT_HEADER = ("tag", "before", "invalid", "duplicate", "capped", "after")


def unfinished_plan(data_dir):
    """The plan a killed check.py left in DATA_DIR, or None."""
    return read_plan(Path(data_dir) / PLAN)


def fingerprint(paths, root):
    """A digest of the tag folders' entries (name, size, modification time)."""
    digest = hashlib.sha1()
    for path in sorted(paths):
        st = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n"
                      .encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def already_checked(data_dir, settings, paths):
    """True if the last finished check had these settings and left these very entries."""
    path = Path(data_dir) / DONE
    if not path.is_file():
        return False
    done = json.loads(path.read_text())
    return done.get("settings") == settings and \
        done.get("fingerprint") == fingerprint(paths, Path(data_dir) / "anime_images")


def inspect_journalled(pictures, data_dir, size, workers, tick):
    """inspect_all, skipping the pictures an earlier (killed) run journalled as inspected."""
    journal = Journal(Path(data_dir) / INSPECTED)
    known = {r["key"]: r for r in journal.records() if r.get("size") == size}
    keys, todo = {}, {}
    for handle, picture in pictures.items():
        st = picture.entries[0].stat()
        keys[id(picture)] = key = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
        if key in known:
            record = known[key]
            picture.reason, picture.byte_hash, picture.pixel_hash = (
                record["reason"], record["bytes"], record["pixels"])
            tick()
        else:
            todo[handle] = picture

    def done(picture):
        journal.append({"key": keys[id(picture)], "size": size, "reason": picture.reason,
                        "bytes": picture.byte_hash, "pixels": picture.pixel_hash})
        tick()

    try:
        inspect_all(todo, size, workers, done)
    finally:
        journal.close()
    return len(pictures) - len(todo)


def make_plan(data_dir, paths, pictures, duplicates, tag_of, settings):
    """Decide every removal and report of this check; nothing is changed yet. `settings`:
    max_per_tag, seed, delete and image_size."""
    max_per_tag, seed, delete = settings["max_per_tag"], settings["seed"], settings["delete"]
    data_dir = Path(data_dir)
    root = data_dir / "anime_images"
    before = Counter(p.parent.name for p in paths)
    moves, log, removed, taken = [], [], Counter(), set()
    for picture in sorted(pictures.values(), key=lambda p: p.id):
        reason = picture.reason or (f"duplicate of id {duplicates[id(picture)]}"
                                    if id(picture) in duplicates else None)
        if not reason:
            continue
        for path in sorted(picture.entries):
            entry = path.relative_to(root).as_posix()
            target = "" if delete else _quarantine_name(data_dir, entry, taken)
            moves.append((entry, target))
            log.append((entry, target, reason))
            removed["invalid" if picture.reason else "duplicate", path.parent.name] += 1
    gone = {root / entry for entry, _ in moves}
    kept = [p for p in paths if p not in gone and p.stem.isdigit()]
    capped = choose_capped(by_folder(kept), max_per_tag, seed)
    rows = []
    for folder in sorted(before, key=lambda f: (-before[f], f)):
        counts = (removed["invalid", folder], removed["duplicate", folder],
                  len(capped.get(folder, ())))
        rows.append((tag_of[folder], before[folder], *counts, before[folder] - sum(counts)))
    log_name = DELETED if delete else REASONS
    old_capped = [(r["tag"], r["id"]) for r in read_csv_dicts(data_dir / CAPPED)]
    old_log = [(r["entry"], r["moved_to"], r["reason"])
               for r in read_csv_dicts(data_dir / log_name)]
    files = {"check_report.csv": (REPORT_HEADER, rows),
             CAPPED: (CAPPED_HEADER, old_capped + sorted(
                 (tag_of[f], p.stem) for f, ps in capped.items() for p in ps)),
             log_name: (REASONS_HEADER, old_log + log)}
    unlinks = sorted(p.relative_to(root).as_posix() for ps in capped.values() for p in ps)
    return {"settings": settings, "moves": moves, "unlinks": unlinks, "files": files,
            "lines": _table(rows, log, data_dir / log_name, data_dir, len(unlinks), max_per_tag,
                            delete)}


def _quarantine_name(data_dir, entry, taken):
    """Where an entry goes in the quarantine: its place there, numbered if that is taken."""
    rel = Path(entry)
    target, n = Path("quarantine") / rel, 1
    while (data_dir / target).exists() or target in taken:
        target = Path("quarantine") / rel.with_name(f"{rel.stem}.{n}{rel.suffix}")
        n += 1
    taken.add(target)
    return target.as_posix()


def _table(rows, log, log_path, data_dir, n_capped, max_per_tag, delete):
    """The per-tag table and the summary line check.py prints."""
    width = max([len(r[0]) for r in rows] + [3])
    lines = [f"{'tag':<{width}}  {'before':>7}  {'invalid':>7}  {'dup':>5}  {'capped':>7}  "
             f"{'after':>7}"]
    lines += [f"{r[0]:<{width}}  {r[1]:>7,}  {r[2]:>7,}  {r[3]:>5,}  {r[4]:>7,}  {r[5]:>7,}"
              for r in rows]
    n_bad = len({e for e, _, r in log if not r.startswith("duplicate")})
    lines.append(f"checked {sum(r[1] for r in rows):,} entries in {len(rows)} tag folders: "
                 f"{'deleted' if delete else 'quarantined'} {n_bad:,} invalid and "
                 f"{len(log) - n_bad:,} duplicate entries ({log_path}), capped {n_capped:,} "
                 f"entries at {max_per_tag:,} per tag; report in {data_dir / 'check_report.csv'}")
    return lines


def carry_out(data_dir, plan):
    """Make the plan's moves, unlinks and reports (again, after a kill: done ones are
    skipped), print its lines, then drop the plan and the inspection journal."""
    data_dir = Path(data_dir)
    root = data_dir / "anime_images"
    write_plan(data_dir / PLAN, plan)
    for entry, target in plan["moves"]:
        source = root / entry
        if not os.path.lexists(source):
            continue  # moved before a kill
        if not target:
            source.unlink()
        elif not (data_dir / target).exists():
            (data_dir / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(data_dir / target))  # a rename: all or nothing
    for entry in plan["unlinks"]:  # hard links: the image stays in resized/ and other folders
        (root / entry).unlink(missing_ok=True)
    for name, (header, rows) in plan["files"].items():
        with atomic_csv_writer(data_dir / name, header) as writer:
            writer.writerows(rows)
    with atomic_path(data_dir / DONE) as tmp:  # a rerun with nothing changed has nothing to do
        tmp.write_text(json.dumps({"settings": plan["settings"], "fingerprint": fingerprint(
            list(image_paths(root)), root)}, indent=2, sort_keys=True) + "\n")
    for line in plan["lines"]:
        print(line)
    Journal(data_dir / INSPECTED).discard()
    discard_plan(data_dir / PLAN)
    return plan
