"""Validate the grouped images, remove exact duplicates and cap each tag folder.

Every image under DATA_DIR/anime_images is fully decoded; broken ones and duplicates (same
bytes or same pixels under another id) are moved to DATA_DIR/quarantine/ with the reason
(deleted only with --delete). Then each tag folder keeps at most --max-per-tag entries;
capping removes only that folder's hard link, so the image stays in its other folders.

Every removal is recorded (quarantine/reasons.csv, capped.csv); --restore puts the
quarantined entries and the capped links back, so another cap or none can be chosen.

Examples:
  python check.py                                   # cap at 1,000 per tag (the original)
  python check.py --max-per-tag 0                   # validate and dedupe only
  python check.py --restore                         # undo the quarantine and the caps
"""
from collections import Counter

from tagger import cli
from tagger.checking import by_folder, choose_capped, find_duplicates, gather, inspect_all
from tagger import locks
from tagger.entry import stage
from tagger.fsutil import atomic_csv_writer, move_aside, read_csv_dicts
from tagger.grouping import folder_tags, image_paths
from tagger.progress import bar
from tagger.removals import removed_entries, restore_capped, restore_quarantined


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    parser.add_argument("--max-per-tag", type=cli.non_negative_int, default=1000,
                        help="entries kept per tag folder; 0 = no cap")
    parser.add_argument("--image-size", type=cli.positive_int, default=None,
                        help="expected side in pixels; must match the one deal.py recorded "
                             "in DATA_DIR/deal_args.json (default: that one)")
    cli.add_seed(parser)
    parser.add_argument("--delete", action="store_true",
                        help="delete invalid and duplicate files instead of quarantining them")
    cli.add_workers(parser, cli.default_workers(), "processes")
    parser.add_argument("--restore", action="store_true",
                        help="move the quarantined entries and the capped links back into "
                             "their tag folders (what --delete removed cannot come back), "
                             "then stop")
    args = parser.parse_args(argv)
    recorded = cli.recorded_image_size(args.data_dir)
    if args.image_size is None:
        args.image_size = recorded
    elif (args.data_dir / "deal_args.json").exists() and args.image_size != recorded:
        parser.error(f"--image-size {args.image_size} contradicts {args.data_dir}/deal_args.json: "
                     f"deal.py made these images {recorded}x{recorded}; leave the flag out")
    return args


def remove(picture, reason, args, log):
    """Quarantine (or delete) every tag-folder entry of a picture, logging why."""
    root = args.data_dir / "anime_images"
    for path in picture.entries:
        if args.delete:
            path.unlink()
            log.append((str(path.relative_to(root)), "", reason))
        else:
            target = move_aside(path, args.data_dir / "quarantine", root)
            log.append((str(path.relative_to(root)), str(target.relative_to(args.data_dir)), reason))


def restore(data_dir):
    """check.py --restore: put back what earlier runs quarantined or capped."""
    quarantined, left = restore_quarantined(data_dir)
    capped, missing = restore_capped(data_dir)
    print(f"restored {quarantined:,} quarantined entries and {capped:,} capped links into "
          f"{data_dir / 'anime_images'}"
          + (f"; left {left:,} in the quarantine whose place is taken" if left else "")
          + (f"; {missing:,} capped links have no {data_dir / 'resized'} file (run deal.py)"
             if missing else "") + "; run check.py again to check and cap")
    return quarantined, capped


@stage
def main(argv=None):
    args = parse_args(argv)
    with locks.data_folder(args.data_dir):
        return check(args)


def check(args):
    """Check, dedupe and cap the tag folders (main's work, with the data folder locked)."""
    if args.restore:
        return restore(args.data_dir)
    root = args.data_dir / "anime_images"
    paths = list(image_paths(root))
    if not paths:
        hint = (" (check.py --restore brings back what it removed before)"
                if removed_entries(args.data_dir) else "")
        cli.fail(f"no images under {root}; run deal.py first{hint}")
    before = Counter(p.parent.name for p in paths)
    try:
        tag_of = folder_tags(args.data_dir, before)
    except ValueError as exc:
        cli.fail(exc)
    pictures = gather(paths)
    with bar(len(pictures), "check", "img") as progress:
        inspect_all(pictures, args.image_size, args.workers, lambda: progress.update(1))
    log, removed = [], Counter()
    duplicates = find_duplicates(pictures.values())
    for picture in pictures.values():
        reason = picture.reason or (f"duplicate of id {duplicates[id(picture)]}"
                                    if id(picture) in duplicates else None)
        if reason:
            remove(picture, reason, args, log)
            removed.update(("invalid" if picture.reason else "duplicate", p.parent.name)
                           for p in picture.entries)
    kept = [p for p in image_paths(root)]
    capped = choose_capped(by_folder(kept), args.max_per_tag, args.seed)
    for folder, entries in capped.items():
        for path in entries:
            path.unlink()  # a hard link: the image stays in DATA_DIR/resized and other folders
    write_reports(args, before, removed, capped, log, tag_of)
    return before, removed, capped


def write_reports(args, before, removed, capped, log, tag_of):
    """Print the per-tag table and write check_report.csv, capped.csv and the quarantine log."""
    rows = []
    for folder in sorted(before, key=lambda f: -before[f]):
        invalid, dup = removed["invalid", folder], removed["duplicate", folder]
        cap = len(capped.get(folder, ()))
        rows.append((tag_of[folder], before[folder], invalid, dup, cap,
                     before[folder] - invalid - dup - cap))
    header = ("tag", "before", "invalid", "duplicate", "capped", "after")
    with atomic_csv_writer(args.data_dir / "check_report.csv", header) as writer:
        writer.writerows(rows)
    with atomic_csv_writer(args.data_dir / "capped.csv", ("tag", "id")) as writer:
        old = read_csv_dicts(args.data_dir / "capped.csv")
        writer.writerows([(r["tag"], r["id"]) for r in old] +
                         [(tag_of[f], p.stem) for f, ps in capped.items() for p in ps])
    log_path = args.data_dir / ("deleted.csv" if args.delete else "quarantine/reasons.csv")
    with atomic_csv_writer(log_path, ("entry", "moved_to", "reason")) as writer:
        old = read_csv_dicts(log_path)
        writer.writerows([(r["entry"], r["moved_to"], r["reason"]) for r in old] + log)
    width = max([len(r[0]) for r in rows] + [3])
    print(f"{'tag':<{width}}  {'before':>7}  {'invalid':>7}  {'dup':>5}  {'capped':>7}  {'after':>7}")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>7,}  {r[2]:>7,}  {r[3]:>5,}  {r[4]:>7,}  {r[5]:>7,}")
    n_bad = len({e for e, _, r in log if not r.startswith("duplicate")})
    n_dup = len(log) - n_bad
    print(f"checked {sum(before.values()):,} entries in {len(before)} tag folders: "
          f"{'deleted' if args.delete else 'quarantined'} {n_bad:,} invalid and {n_dup:,} "
          f"duplicate entries ({log_path}), capped {sum(map(len, capped.values())):,} "
          f"entries at {args.max_per_tag:,} per tag; report in {args.data_dir / 'check_report.csv'}")


if __name__ == "__main__":
    main()
