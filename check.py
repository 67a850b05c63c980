"""Validate the grouped images, remove exact duplicates and cap each tag folder.

Every image under DATA_DIR/anime_images is fully decoded; broken ones and duplicates (same
bytes or same pixels under another id) are moved to DATA_DIR/quarantine/ with the reason
(deleted only with --delete). Then each tag folder keeps at most --max-per-tag entries;
capping removes only that folder's hard link, so the image stays in its other folders.

Every removal is recorded (quarantine/reasons.csv, capped.csv); --restore puts the
quarantined entries and the capped links back, so another cap or none can be chosen.

Examples:
  python check.py                                   # validate and dedupe, no cap
  python check.py --max-per-tag 1000                # also cap at 1,000 per tag (the original)
  python check.py --restore                         # undo the quarantine and the caps
"""
from tagger.core import cli, locks, quiet
from tagger.data.check_plan import (already_checked, carry_out, inspect_journalled, make_plan,
                               unfinished_plan)
from tagger.data.check_state import CheckState
from tagger.core.entry import stage
from tagger.core.folders import DataFolder
from tagger.data.grouping import folder_tags
from tagger.core.progress import bar
from tagger.data.stages import require_data_dir
from tagger.data.removals import iter_removed, restore_capped, restore_quarantined


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    parser.add_argument("--max-per-tag", type=cli.non_negative_int, default=0,
                        help="entries kept per tag folder; 0 = no cap; the original used 1000")
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
    quiet.add_verbosity(parser, tensorflow=False)
    args = parser.parse_args(argv)
    require_data_dir(args.data_dir)
    data = DataFolder(args.data_dir)
    recorded = data.image_size
    if args.image_size is None:
        args.image_size = recorded
    elif data.dealt and args.image_size != recorded:
        parser.error(f"--image-size {args.image_size} contradicts {data.deal_args}: "
                     f"deal.py made these images {recorded}x{recorded}; leave the flag out")
    return args


def describe(settings):
    """A check's settings as a person reads them."""
    cap = settings["max_per_tag"]
    return ", ".join([f"at most {cap:,} per tag (seed {settings['seed']})" if cap else "no cap",
                      "deleting" if settings["delete"] else "quarantining",
                      f"{settings['image_size']} px"])


def restore(data):
    """check.py --restore: put back what earlier runs quarantined or capped."""
    quarantined, left = restore_quarantined(data)
    capped, missing = restore_capped(data)
    print(f"restored {quarantined:,} quarantined entries and {capped:,} capped links into "
          f"{data.tag_folders}"
          + (f"; left {left:,} in the quarantine whose place is taken" if left else "")
          + (f"; {missing:,} capped links have no {data.resized} file (run deal.py)"
             if missing else "") + "; run check.py again to check and cap")
    return quarantined, capped


@stage
def main(argv=None):
    args = parse_args(argv)
    no_bar = quiet.from_args(args)[1]
    with locks.data_folder(args.data_dir):
        return check(args, no_bar)


def check(args, no_bar=False):
    """Check, dedupe and cap the tag folders (main's work, with the data folder locked)."""
    data = DataFolder(args.data_dir)
    unfinished = unfinished_plan(data)
    if unfinished:  # a killed run had decided everything: make exactly its changes
        print(f"finishing the check a stopped run had begun in {args.data_dir} "
              f"({describe(unfinished['settings'])}); run check.py again for other settings")
        carried = carry_out(data, unfinished)
        if not args.restore:
            return carried
    if args.restore:  # after any unfinished plan, so that restoring undoes all of it
        return restore(data)
    settings = {"max_per_tag": args.max_per_tag, "seed": args.seed, "delete": args.delete,
                "image_size": args.image_size}
    state = CheckState(data.check_scratch)
    try:
        plan = decide(data, state, settings, args.workers, no_bar)
    finally:
        state.close()
    return plan and carry_out(data, plan)


def decide(data, state, settings, workers, no_bar):
    """Find the tag folders' entries, decode every picture, find the duplicates and plan the
    removals (nothing is changed yet); None when a check with these settings left the folders
    as they are."""
    root = data.tag_folders
    digest = state.scan(root)
    if not state.count("entries"):
        hint = (" (check.py --restore brings back what it removed before)"
                if any(iter_removed(data)) else "")
        cli.fail(f"no images under {root}; run deal.py first{hint}")
    if already_checked(data, settings, digest):
        print(f"{root} is already checked with these settings and nothing changed since; "
              f"the report is {data.check_report}")
        return None
    try:
        tag_of = folder_tags(data, state.folders())
    except ValueError as exc:
        cli.fail(exc)
    with bar(state.count("pictures"), "check", "img", disable=no_bar or None) as progress:
        reused = inspect_journalled(state, data.check_inspected, settings["image_size"],
                                    workers, lambda: progress.update(1))
    if reused:
        print(f"reused {reused:,} pictures a stopped run had decoded")
    state.find_duplicates()
    return make_plan(data, state, tag_of, settings)


if __name__ == "__main__":
    main()
