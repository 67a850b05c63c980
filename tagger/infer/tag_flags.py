"""tag.py's flags: kohya-ss sd-scripts' names where both have the flag (tag_images_by_wd14_tagger.py),
with kohya's underscore spellings accepted too (docs/flags.md, docs/tagging.md)."""
from pathlib import Path

from ..core import cli
from .captions import check_flags
from .categories import THRESHOLDED
from .kohya_order import CaptionStyle, parse_replacements
from .session import Choice

MCUT = ("general", "character")  # the categories imgutils thresholds by MCut
KOHYA_SPELLINGS = {  # kohya's name -> ours, for the flags both have
    "--caption_extension": "--caption-extension", "--caption_extention": "--caption-extension",
    "--caption_separator": "--separator", "--thresh": "--threshold",
    **{f"--{c}_threshold": f"--{c}-threshold" for c in THRESHOLDED},
    "--undesired_tags": "--undesired-tags", "--remove_underscore": "--remove-underscore",
    "--always_first_tags": "--always-first-tags", "--append_tags": "--append",
    "--batch_size": "--batch-size", "--max_data_loader_n_workers": "--workers",
    "--character_tags_first": "--character-tags-first", "--use_rating_tags": "--use-rating-tags",
    "--use_rating_tags_as_last_tag": "--use-rating-tags-as-last-tag",
    "--tag_replacement": "--tag-replacement", "--output_path": "--output-path"}
KOHYA_NO_OPS = ("--force_download", "--onnx", "--recursive", "--frequency_tags", "--debug")
ALTERNATIVES = "--threshold (or --general-threshold and --character-threshold)"
KOHYA_MODEL_DIR, KOHYA_REPO = "wd14_tagger_model", "SmilingWolf/wd-v1-4-convnext-tagger-v2"


def add_categories(parser):
    """Per-category thresholds, MCut and ratings, for WD-layout taggers (as kohya's script)."""
    group = parser.add_argument_group("WD-layout taggers: categories and ratings")
    for category in THRESHOLDED:
        group.add_argument(f"--{category}-threshold", type=cli.non_negative_float, metavar="X",
                           default=None,
                           help=f"threshold of the {category} tags (default: --threshold, else "
                                f"tuned); above 1 leaves them out")
    for category in MCUT:
        group.add_argument(f"--{category}-mcut", action="store_true",
                           help=f"choose the {category} tags by MCut, per picture (imgutils)")
    group.add_argument("--use-rating-tags", action="store_true",
                       help="write the picture's most likely rating first")
    group.add_argument("--use-rating-tags-as-last-tag", action="store_true",
                       help="write the picture's most likely rating last")
    group.add_argument("--character-tags-first", action="store_true",
                       help="write the character tags before the others")


def add_caption_text(parser):
    group = parser.add_argument_group("Caption text")
    group.add_argument("--tag-replacement", default=None, metavar="PAIRS",
                       help="replace tags: 'source,target;source,target' (\\, and \\; inside "
                            "a tag)")
    group.add_argument("--escape-brackets", action="store_true",
                       help="write ( and ) as \\( and \\) for prompts")
    group.add_argument("--prefix-tags", default="", metavar="TAGS",
                       help="tags always written first, predicted or not (trigger words)")
    group.add_argument("--output-path", type=Path, default=None, metavar="FILE",
                       help="write every caption into this .json or .jsonl (kohya's format) "
                            "instead of beside each picture")


def add_kohya_spellings(parser):
    """kohya's underscore names; --model_dir/--repo_id name the --run; the rest do nothing."""
    for spelling, canonical in KOHYA_SPELLINGS.items():
        cli.spell(parser, spelling, canonical)
    parser.add_argument("--model_dir", default=None, help=cli.SUPPRESS)
    parser.add_argument("--repo_id", default=None, help=cli.SUPPRESS)
    for flag in KOHYA_NO_OPS:
        parser.add_argument(flag, action="store_true", dest=f"kohya_{flag[2:]}", help=cli.SUPPRESS)


def kohya_location(model_dir, repo_id):
    """The folder kohya's script keeps a --repo_id in, under --model_dir."""
    tokens = (repo_id or KOHYA_REPO).split("/")
    base = Path(model_dir or KOHYA_MODEL_DIR) / "_".join(tokens[:2])
    return base.joinpath(*tokens[2:])


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
    add_categories(parser)
    add_caption_text(parser)
    add_kohya_spellings(parser)
    args = parser.parse_args(argv)
    try:
        check_flags(args.caption_extension, args.separator)
        parse_replacements(args.tag_replacement or "")
        check_combinations(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.model_dir is not None or args.repo_id is not None:
        if args.run != parser.get_default("run"):
            parser.error("--run and kohya's --model_dir/--repo_id both name the tagger: give one")
        args.run = kohya_location(args.model_dir, args.repo_id)
    return args


def check_combinations(args):
    """Refuse flags that contradict each other (ValueError, one line)."""
    if args.tuned and args.threshold is not None:
        raise ValueError("--tuned and --threshold (--thresh): give one of them")
    if args.use_rating_tags and args.use_rating_tags_as_last_tag:
        raise ValueError("--use-rating-tags and --use-rating-tags-as-last-tag: the rating goes "
                         "first or last, give one of them")


def choice_of(args):
    """The Choice of tag.py's flags: per-category thresholds and MCut over --threshold."""
    by_category = tuple((c, getattr(args, f"{c}_threshold")) for c in THRESHOLDED
                        if getattr(args, f"{c}_threshold") is not None)
    return Choice(args.threshold, None, by_category,
                  frozenset(c for c in MCUT if getattr(args, f"{c}_mcut")))


def style_of(args):
    """The CaptionStyle of tag.py's flags."""
    rating = ("first" if args.use_rating_tags else "last" if args.use_rating_tags_as_last_tag
              else None)
    return CaptionStyle.parse(args.separator, args.remove_underscore, args.undesired_tags,
                              args.always_first_tags, args.max_tags, args.tag_replacement,
                              args.prefix_tags, character_first=args.character_tags_first,
                              rating=rating, escape=args.escape_brackets)
