"""tag.py's flags: kohya-ss sd-scripts' names where both have the flag (tag_images_by_wd14_tagger.py),
with kohya's underscore spellings accepted too (docs/flags.md)."""
from ..core import cli
from .captions import check_flags


def parse_args(doc, argv=None):
    """tag.py's parsed arguments; `doc` is its docstring."""
    parser = cli.make_parser(doc)
    cli.add_pictures_and_choice(parser, "caption")
    parser.add_argument("--caption-extension", default=".txt",
                        help="suffix of the caption file beside each picture")
    parser.add_argument("--separator", default=", ", help="between tags in a caption")
    parser.add_argument("--remove-underscore", action="store_true",
                        help="write long_hair as 'long hair' (tags over 3 characters)")
    parser.add_argument("--undesired-tags", default="",
                        help="tags never written, separated like captions")
    parser.add_argument("--always-first-tags", default="",
                        help="tags moved to the front of a caption when present, in this order")
    parser.add_argument("--max-tags", type=cli.non_negative_int, default=0,
                        help="at most this many tags per caption, the most likely; 0 = all")
    parser.add_argument("--append", action="store_true",
                        help="add new tags to existing captions (backed up first) instead of "
                             "skipping captioned pictures")
    cli.add_overwrite(parser, "caption captioned pictures again (the old caption backed up)")
    parser.add_argument("--scores", type=cli.Path, default=None,
                        help="also write every tag's score per picture to this .csv or .jsonl")
    parser.add_argument("--table-rows", type=cli.non_negative_int, default=15,
                        help="rows of the most-frequent-tags table at the end; 0 = none")
    cli.spell(parser, "--top-tags", "--table-rows", deprecated=True)
    cli.add_decoding(parser, "decoding processes; 0 = in this process", batch_size=64)
    args = parser.parse_args(argv)
    try:
        check_flags(args.caption_extension, args.separator)
    except ValueError as exc:
        parser.error(str(exc))
    return args
