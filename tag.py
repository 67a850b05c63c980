"""Caption pictures with a trained run: a text file of tags beside each picture.

Writes <picture stem>.txt beside each picture (folders are walked recursively), in the
conventions of kohya-ss sd-scripts' tag_images_by_wd14_tagger.py, which LoRA and
fine-tune trainers read. Captioned pictures are skipped, so a killed run finishes the rest
when given the same command again; docs/tagging.md says what it writes and never touches.

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
from tagger.infer import tag_flags
from tagger.infer.captions import (CaptionStyle, caption_folders, caption_picture, caption_summary,
                                   frequency_table, plan_captions)
from tagger.infer.devices import describe
from tagger.infer.pictures import required_pictures
from tagger.infer.scores import ScoresFile, read_scores
from tagger.infer.session import FAILURES, Choice, Decoding, TaggingSession
from tagger.infer.writer import locked_writer


def parse_args(argv=None):
    return tag_flags.parse_args(__doc__, argv)


@stage
def main(argv=None):
    args = parse_args(argv)
    try:
        paths, others = required_pictures(args.inputs)
        state = read_scores(args.scores) if args.scores else None
        plan = plan_captions(paths, args.caption_extension, args.append, args.overwrite, state,
                             args.scores)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    style = CaptionStyle.parse(args.separator, args.remove_underscore, args.undesired_tags,
                               args.always_first_tags, args.max_tags)
    with locked_writer(caption_folders(plan), [args.scores] * bool(args.scores)) as writer:
        counts, tagged, failed, refused = (tag_all(args, plan, style, writer, state) if plan.todo
                                           else (collections.Counter(), 0, [], []))
    for line in (*frequency_table(counts, tagged, args.table_rows),
                 *caption_summary(plan, tagged, failed, args.caption_extension, refused, others)):
        print(line)
    return {"tagged": tagged, "skipped": len(plan.skipped), "failed": len(failed),
            "counts": counts, "renamed": plan.renamed, "refused": refused, "others": others}


def tag_all(args, plan, style, writer, state):
    """Tag, caption and score the plan's pictures; (counts, tagged, failed, refused)."""
    counts, tagged, failed, refused = collections.Counter(), 0, [], []
    decoding = Decoding(args.workers, args.batch_size, reduced=not args.full_decode,
                        max_pixels=args.max_pixels)
    try:
        with TaggingSession(args.model or args.run, Choice(args.threshold), decoding,
                            verbose=args.verbose, device=args.device) as session, \
                bar(len(plan.todo), "tag", "pic", disable=args.quiet or None) as progress:
            session.start(plan.todo)
            tagger = session.load()
            args.quiet or progress.write(describe(tagger))
            scores = ScoresFile.opened(args.scores, tagger.tags, writer, state, args.overwrite,
                                       flush_every=args.batch_size)
            for result in session.results():
                progress.update(1)
                if result.error:
                    failed.append((result.path, result.error))
                    continue
                if scores is not None:
                    scores.add(result.path, result.scores)
                if result.path in plan.to_caption:
                    tags = style.tags(result.chosen)
                    problem = caption_picture(writer, plan.captions[result.path], tags, style,
                                              args.append, args.overwrite)
                    if problem:
                        refused.append(problem)
                        continue
                    counts.update(set(tags))
                    tagged += 1
                    if not args.quiet:
                        progress.write(f"{result.path}: {style.separator.join(tags)}")
            scores and scores.close()
    except (*FAILURES, ValueError) as exc:  # ValueError: a --scores file of other tags
        cli.fail(exc)
    return counts, tagged, failed, refused


if __name__ == "__main__":
    main()
