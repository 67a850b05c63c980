"""Caption pictures with a trained run: a text file of tags beside each picture.

Writes <picture stem>.txt beside each picture (folders are walked recursively), in the
conventions of kohya-ss sd-scripts' tag_images_by_wd14_tagger.py, which LoRA and
fine-tune trainers read: the tags over the run's tuned per-tag thresholds, most likely
first, joined by ", ". Pictures already captioned are skipped, so a killed run finishes
the rest when given the same command again.

Examples:
  python tag.py pictures/ --run runs/tagger
  python tag.py pictures/ --run runs/tagger --threshold 0.35 --remove-underscore \\
      --undesired-tags "simple_background,white_background" --max-tags 20
  python tag.py pictures/ --run runs/tagger --append --always-first-tags "1girl,1boy" \\
      --scores scores.csv
"""
import collections

from tagger.core import cli
from tagger.core.entry import stage
from tagger.core.progress import bar
from tagger.infer.captions import (CaptionStyle, ScoresFile, caption_summary, frequency_table,
                                   plan_captions, split_tags, write_caption)
from tagger.infer.pictures import IMAGE_SUFFIXES, required_pictures
from tagger.infer.session import FAILURES, Choice, Decoding, TaggingSession


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
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
                        help="add new tags to existing captions (no duplicates) instead of "
                             "skipping captioned pictures")
    cli.add_overwrite(parser, "caption again pictures that already have a caption")
    parser.add_argument("--scores", type=cli.Path, default=None,
                        help="also write every tag's score per picture to this .csv or .jsonl")
    parser.add_argument("--top-tags", type=cli.non_negative_int, default=15,
                        help="rows of the most-frequent-tags table at the end; 0 = none")
    cli.add_decoding(parser, "decoding processes; 0 = in this process", batch_size=64)
    args = parser.parse_args(argv)
    ext = args.caption_extension
    if not ext.startswith(".") or ext.lower() in IMAGE_SUFFIXES or len(ext) < 2:
        parser.error(f"--caption-extension {ext!r}: give a suffix such as .txt or .caption")
    return args


@stage
def main(argv=None):
    args = parse_args(argv)
    try:
        paths = required_pictures(args.inputs)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    scored = ScoresFile.images_in(args.scores) if args.scores and not args.overwrite else None
    plan = plan_captions(paths, args.caption_extension, args.append, args.overwrite, scored)
    style = CaptionStyle(args.separator, args.remove_underscore,
                         frozenset(split_tags(args.undesired_tags, args.separator)),
                         tuple(split_tags(args.always_first_tags, args.separator)), args.max_tags)
    counts, tagged, failed = tag_all(args, plan, style) if plan.todo else (
        collections.Counter(), 0, [])
    for line in frequency_table(counts, tagged, args.top_tags):
        print(line)
    for line in caption_summary(plan, tagged, failed, args.caption_extension):
        print(line)
    return {"tagged": tagged, "skipped": len(plan.skipped), "failed": len(failed),
            "counts": counts, "renamed": plan.renamed}


def tag_all(args, plan, style):
    """Tag every picture of the plan, write its caption and scores; (counts, tagged, failed).
    The bar opens before the model loads, so its rate and ETA count start-up."""
    counts, tagged, failed = collections.Counter(), 0, []
    decoding = Decoding(args.workers, args.batch_size, reduced=not args.full_decode)
    try:
        with TaggingSession(args.model or args.run, Choice(args.threshold), decoding) as session, \
                bar(len(plan.todo), "tag", "pic") as progress:
            session.start(plan.todo)
            tagger = session.load()
            with ScoresFile.opened(args.scores, tagger.tags, args.overwrite) as scores:
                for result in session.results():
                    progress.update(1)
                    if result.error:
                        failed.append((result.path, result.error))
                        continue
                    if scores is not None:
                        scores.add(result.path, result.scores)
                    if result.path in plan.to_caption:
                        tags = style.tags(result.chosen)
                        write_caption(plan.captions[result.path], tags, style, args.append)
                        counts.update(set(tags))
                        tagged += 1
                        if not args.quiet:
                            progress.write(f"{result.path}: {style.separator.join(tags)}")
                    if scores is not None and progress.n % args.batch_size == 0:
                        scores.flush()
    except (*FAILURES, ValueError) as exc:  # ValueError: a --scores file of other tags
        cli.fail(exc)
    return counts, tagged, failed


if __name__ == "__main__":
    main()
