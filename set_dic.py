"""Build the tag dictionary (DATA_DIR/dic.txt) from the tag frequencies of a Safebooru CSV.

Examples:
  python set_dic.py                                 # tags on more than 120,000 posts (the original)
  python set_dic.py --min-count 500 --exclude translation_request comic
  python set_dic.py --top 100 --out my_dic.txt
"""
from tagger.core import cli, locks, quiet
from tagger.data.counting import choose_tags, count_tags
from tagger.core.entry import stage
from tagger.core.files import atomic_csv_writer, move_aside
from tagger.core.folders import DataFolder
from tagger.core.progress import bar, count_lines
from tagger.data.safebooru import CsvFormatError, open_csv
from tagger.core.tags import load_dic, save_dic


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    parser.add_argument("--out", type=cli.Path, default=None,
                        help="where to write the dictionary (default: DATA_DIR/dic.txt)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--min-count", type=cli.non_negative_int, default=120000,
                        help="keep tags on more than this many posts")
    choice.add_argument("--top", type=cli.positive_int, default=None,
                        help="keep the N most frequent tags instead (default: off)")
    parser.add_argument("--exclude", nargs="*", default=[], metavar="TAG",
                        help="tags to leave out, e.g. translation_request")
    parser.add_argument("--limit", type=cli.non_negative_int, default=0, help="rows to read; 0 = all")
    cli.add_workers(parser, cli.default_workers(), "processes counting parts of the file")
    cli.add_overwrite(parser, "replace an existing dictionary that differs "
                              "(the old one is moved to DATA_DIR/replaced/)")
    quiet.add_verbosity(parser)
    args = cli.resolve(parser.parse_args(argv))
    args.out = args.out or DataFolder(args.data_dir).dic
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
    tags = choose_tags(counts, args.min_count, args.top, args.exclude)
    if not tags:
        cli.fail(f"no tag is on more than {args.min_count:,} posts in {args.csv}; "
                 f"lower --min-count or use --top N")
    data = DataFolder(args.data_dir)
    _write_outputs(data, args, counts, bad, tags)
    rule = f"top {args.top}" if args.top else f"count > {args.min_count:,}"
    print(f"counted {len(counts):,} distinct tags over {rows - len(bad):,} rows, "
          f"wrote {len(tags)} tags ({rule}) to {args.out}"
          + (f", skipped {len(bad):,} bad rows (see {data.set_dic_errors})" if bad else ""))
    return tags


def _write_outputs(data, args, counts, bad, tags):
    """Write tag_counts.csv, set_dic_errors.csv and the dictionary, never losing an old one."""
    with atomic_csv_writer(data.tag_counts, ("tag", "count")) as writer:
        writer.writerows(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    with atomic_csv_writer(data.set_dic_errors, ("row", "id", "reason")) as w:
        w.writerows((b.row, b.id, b.reason) for b in bad)
    if args.out.exists() and load_dic(args.out) != tags:
        if not args.overwrite:
            cli.fail(f"{args.out} exists with other tags; pass --overwrite to replace it "
                     f"(the old one is kept in {data.replaced}), or --out elsewhere")
        move_aside(args.out, data.replaced)
    save_dic(args.out, tags)


if __name__ == "__main__":
    main()
