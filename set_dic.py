"""Build the tag dictionary (DATA_DIR/dic.txt) from the tag frequencies of a Safebooru CSV.

It counts the rows download.py fetched (the window it recorded, the first 100,000 rows
by default); --limit 0 counts every row of the CSV, as the original did.

Examples:
  python set_dic.py                                 # the 38 most frequent tags
  python set_dic.py --limit 0 --min-count 120000    # the original: every row, count > 120,000
  python set_dic.py --min-count 500 --exclude translation_request comic
  python set_dic.py --max-tags 100 --dic my_dic.txt
"""
from tagger.core import cli, locks, quiet
from tagger.data import window
from tagger.data.counting import choose_tags, count_tags
from tagger.core.entry import stage
from tagger.core.files import atomic_csv_writer, move_aside
from tagger.core.folders import DataFolder
from tagger.core.progress import bar, count_lines
from tagger.data.safebooru import CsvFormatError, open_csv
from tagger.core.tags import load_dic, save_dic

DEFAULT_TAGS = 38  # the original's dictionary: the tags on more than 120,000 of every row


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    parser.add_argument("--dic", type=cli.Path, default=None,
                        help="the dictionary to write (default: DATA_DIR/dic.txt)")
    cli.spell(parser, "--out", "--dic", deprecated=True)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--min-count", type=cli.non_negative_int, default=None,
                        help="keep the tags on more than N of the rows read, instead of the "
                             "most frequent (the original: 120000, with --limit 0)")
    choice.add_argument("--max-tags", type=cli.positive_int, default=None,
                        help=f"keep the N most frequent tags (default: {DEFAULT_TAGS}, the "
                             f"original dictionary's size, unless --min-count is given)")
    cli.spell(choice, "--top", "--max-tags", deprecated=True)
    parser.add_argument("--exclude", nargs="*", default=[], metavar="TAG",
                        help="tags to leave out, e.g. translation_request")
    window.add_limit(parser)
    cli.add_workers(parser, cli.default_workers(), "processes counting parts of the file")
    cli.add_overwrite(parser, "replace an existing dictionary that differs "
                              "(the old one is moved to DATA_DIR/replaced/)")
    quiet.add_verbosity(parser, tensorflow=False)
    args = cli.resolve(parser.parse_args(argv))
    window.resolve_limit(args, "set_dic")
    if args.min_count is None and args.max_tags is None:
        args.max_tags = DEFAULT_TAGS
    return args


@stage
def main(argv=None):
    args = parse_args(argv)
    no_bar = quiet.from_args(args)[1]
    with locks.data_folder(args.data_dir):
        return count_and_choose(args, no_bar)


def count_and_choose(args, no_bar=False):
    """Count the tags and write the dictionary (main's work, with the data folder locked)."""
    try:
        open_csv(args.csv)[0].close()
    except CsvFormatError as exc:
        cli.fail(exc)
    total = count_lines(args.csv)
    with bar(min(total, args.limit) if args.limit else total, "count tags", "row",
             disable=no_bar or None) as progress:
        counts, bad, rows = count_tags(args.csv, args.limit, progress.update, args.workers)
    tags = choose_tags(counts, args.min_count, args.max_tags, args.exclude)
    if not tags and args.max_tags:
        cli.fail(f"no row of {window.rows(args.limit)} of {args.csv} has a tag that is not "
                 f"excluded; check the file, or --exclude fewer tags")
    if not tags:
        cli.fail(f"no tag is on more than {args.min_count:,} posts in "
                 f"{window.rows(args.limit)} of {args.csv}; lower --min-count, or use "
                 f"--max-tags N" + (" or a wider --limit" if args.limit else ""))
    data = DataFolder(args.data_dir)
    _write_outputs(data, args, counts, bad, tags)
    rule = f"top {args.max_tags}" if args.max_tags else f"count > {args.min_count:,}"
    print(f"counted {len(counts):,} distinct tags over {rows - len(bad):,} rows, "
          f"wrote {len(tags)} tags ({rule}) to {args.dic}"
          + (f", skipped {len(bad):,} bad rows (see {data.set_dic_errors})" if bad else ""))
    return tags


def _write_outputs(data, args, counts, bad, tags):
    """Write tag_counts.csv, set_dic_errors.csv and the dictionary, never losing an old one."""
    with atomic_csv_writer(data.tag_counts, ("tag", "count")) as writer:
        writer.writerows(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    with atomic_csv_writer(data.set_dic_errors, ("row", "id", "reason")) as w:
        w.writerows((b.row, b.id, b.reason) for b in bad)
    if args.dic.exists() and load_dic(args.dic) != tags:
        if not args.overwrite:
            cli.fail(f"{args.dic} exists with other tags; pass --overwrite to replace it "
                     f"(the old one is kept in {data.replaced}), or --dic elsewhere")
        move_aside(args.dic, data.replaced)
    save_dic(args.dic, tags)


if __name__ == "__main__":
    main()
