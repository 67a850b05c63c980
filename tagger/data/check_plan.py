"""check.py's removals, planned whole before any is made, so a killed check is finished exactly.

Every decision (which entries go to the quarantine and under which name, which are
deleted, which links the cap removes, the reports and the lines to print) is written to
DATA_DIR/.check_plan.json before the first file moves. Carrying a plan out can be repeated:
a rerun after a kill finishes it and ends where an uninterrupted run ends. The decoding
before it is journalled picture by picture (DATA_DIR/.check_inspected.jsonl), so a rerun
decodes only the pictures the killed run had not reached.
"""
import json
import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath

from .check_state import combine, entry_digest
from .checking import inspect_all
from ..core.files import atomic_csv_writer, read_csv_dicts
from ..core.folders import write_json
from .grouping import image_paths
from ..core.journal import Journal, discard_plan, read_plan, write_plan
from .removals import CAPPED_HEADER, REASONS_HEADER

REPORT_HEADER = ("tag", "before", "invalid", "duplicate", "capped", "after")


def unfinished_plan(data):
    """The plan a killed check.py left in `data` (a DataFolder), or None."""
    return read_plan(data.check_plan)


def fingerprint(paths, root):
    """A digest of the tag folders' entries (name, size, modification time), in any order."""
    return combine(entry_digest(p.relative_to(root).as_posix(), p.stat()) for p in paths)


def already_checked(data, settings, digest):
    """True if the last finished check had these settings and left these very entries (its
    check_args.json records both; `digest`: the fingerprint of the entries now)."""
    if not data.check_args.is_file():
        return False
    done = json.loads(data.check_args.read_text())
    return done.get("settings") == settings and done.get("fingerprint") == digest


def inspect_journalled(state, journal_path, size, workers, tick):
    """Decode the pictures of `state` (a CheckState), taking the results an earlier (killed)
    run journalled instead of decoding those again; return how many were taken."""
    journal = Journal(journal_path)
    for record in journal.each():
        if record.get("size") == size:
            state.record(record["key"], record["reason"], record["bytes"], record["pixels"])
    reused = state.decoded()
    for _ in range(reused):
        tick()

    def done(key, reason, byte_hash, pixel_hash):
        state.record(key, reason, byte_hash, pixel_hash)
        journal.append({"key": key, "size": size, "reason": reason, "bytes": byte_hash,
                        "pixels": pixel_hash})
        tick()

    try:
        inspect_all(state.undecoded(), size, workers, done)
    finally:
        journal.close()
    return reused


def make_plan(data, state, tag_of, settings):
    """Decide every removal and report of this check of `data` (a DataFolder) from `state`
    (a CheckState, decoded and deduplicated); nothing is changed yet. `settings`:
    max_per_tag, seed, delete and image_size."""
    max_per_tag, seed, delete = settings["max_per_tag"], settings["seed"], settings["delete"]
    before = state.folders()
    moves, log, removed, taken = [], [], Counter(), set()
    for _, reason, invalid, entries in state.removals():
        for entry in sorted(entries, key=PurePosixPath):
            target = "" if delete else _quarantine_name(data, entry, taken)
            moves.append((entry, target))
            log.append((entry, target, reason))
            removed["invalid" if invalid else "duplicate", entry.rpartition("/")[0]] += 1
            state.mark_gone(entry)
    capped = {f: state.capped(f, max_per_tag, seed) for f in before}
    rows = []
    for folder in sorted(before, key=lambda f: (-before[f], f)):
        counts = (removed["invalid", folder], removed["duplicate", folder], len(capped[folder]))
        rows.append((tag_of[folder], before[folder], *counts, before[folder] - sum(counts)))
    log_path = data.deleted if delete else data.quarantine_reasons
    old_capped = [(r["tag"], r["id"]) for r in read_csv_dicts(data.capped)]
    old_log = [(r["entry"], r["moved_to"], r["reason"]) for r in read_csv_dicts(log_path)]
    files = {_name(data, data.check_report): (REPORT_HEADER, rows),
             _name(data, data.capped): (CAPPED_HEADER, old_capped + sorted(
                 (tag_of[f], PurePosixPath(e).stem) for f, es in capped.items()
                 for e in es)),
             _name(data, log_path): (REASONS_HEADER, old_log + log)}
    unlinks = sorted(e for es in capped.values() for e in es)
    return {"settings": settings, "moves": moves, "unlinks": unlinks, "files": files,
            "lines": _table(rows, log, log_path, data.check_report, len(unlinks), settings)}


def _name(data, path):
    """A path in the data folder as a plan records it: relative, so a copied folder's plan
    still holds."""
    return path.relative_to(data.path).as_posix()


def _quarantine_name(data, entry, taken):
    """Where an entry goes in the quarantine: its place there, numbered if that is taken."""
    rel = Path(entry)
    target, n = data.quarantine / rel, 1
    while target.exists() or target in taken:
        target = data.quarantine / rel.with_name(f"{rel.stem}.{n}{rel.suffix}")
        n += 1
    taken.add(target)
    return _name(data, target)


def _table(rows, log, log_path, report_path, n_capped, settings):
    """The per-tag table and the summary line check.py prints."""
    max_per_tag, delete = settings["max_per_tag"], settings["delete"]
    width = max([len(r[0]) for r in rows] + [3])
    lines = [f"{'tag':<{width}}  {'before':>7}  {'invalid':>7}  {'dup':>5}  {'capped':>7}  "
             f"{'after':>7}"]
    lines += [f"{r[0]:<{width}}  {r[1]:>7,}  {r[2]:>7,}  {r[3]:>5,}  {r[4]:>7,}  {r[5]:>7,}"
              for r in rows]
    n_bad = len({e for e, _, r in log if not r.startswith("duplicate")})
    lines.append(f"checked {sum(r[1] for r in rows):,} entries in {len(rows)} tag folders: "
                 f"{'deleted' if delete else 'quarantined'} {n_bad:,} invalid and "
                 f"{len(log) - n_bad:,} duplicate entries ({log_path}), "
                 + (f"capped {n_capped:,} entries at {max_per_tag:,} per tag"
                    if max_per_tag else "no cap") + f"; report in {report_path}")
    return lines


def carry_out(data, plan):
    """Make the plan's moves, unlinks and reports in `data` (a DataFolder; again, after a
    kill: done ones are skipped), print its lines, then drop the plan and the inspection
    journal."""
    root = data.tag_folders
    write_plan(data.check_plan, plan)
    for entry, target in plan["moves"]:
        source = root / entry
        if not os.path.lexists(source):
            continue  # moved before a kill
        if not target:
            source.unlink()
        elif not (data.path / target).exists():
            (data.path / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(data.path / target))  # a rename: all or nothing
    for entry in plan["unlinks"]:  # hard links: the image stays in resized/ and other folders
        (root / entry).unlink(missing_ok=True)
    for name, (header, rows) in plan["files"].items():
        with atomic_csv_writer(data.path / name, header) as writer:
            writer.writerows(rows)
    # the settings of this check and the tree it left: a rerun with nothing changed has
    # nothing to do
    write_json(data.check_args, {"settings": plan["settings"],
                                 "fingerprint": fingerprint(image_paths(root), root)})
    for line in plan["lines"]:
        print(line)
    Journal(data.check_inspected).discard()
    discard_plan(data.check_plan)
    return plan
