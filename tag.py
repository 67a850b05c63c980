"""Caption pictures with a trained run or any WD-layout tagger: a text file of tags beside each.

Writes <picture stem>.txt beside each picture (folders are walked recursively), in the
conventions of kohya-ss sd-scripts' tag_images_by_wd14_tagger.py, whose flags it takes too.
Captioned pictures are skipped, so a killed run finishes the rest when given the same
command again; docs/tagging.md says what it writes and never touches.

Examples:
  python tag.py pictures/ --run runs/tagger
  python tag.py pictures/ --run wd-tagger/ --general-threshold 0.35 --character-threshold 0.85 \\
      --use-rating-tags --character-tags-first --remove-underscore --prefix-tags "mychar"
  python tag.py pictures/ --run runs/tagger --append --always-first-tags "1girl,1boy" \\
      --scores scores.csv
"""
import collections

from tagger.core import cli
from tagger.core.entry import stage
from tagger.core.progress import bar
from tagger.infer import tag_flags
from tagger.infer.backends import require_tagger
from tagger.infer.caption_record import CaptionRecord, check_output_path, recorded_caption
from tagger.infer.captions import (caption_folders, caption_picture, caption_summary,
                                   frequency_table, plan_captions, record_summary)
from tagger.infer.devices import describe
from tagger.infer.pictures import required_pictures
from tagger.infer.scores import ScoresFile, read_scores
from tagger.infer.session import FAILURES, Decoding, TaggingSession
from tagger.infer.writer import locked_writer


def parse_args(argv=None):
    return tag_flags.parse_args(__doc__, argv)


@stage
def main(argv=None):
    args = parse_args(argv)
    record = args.output_path and CaptionRecord(args.output_path)
    try:
        require_tagger(args.run)
        paths, others = required_pictures(args.inputs)
        state = read_scores(args.scores) if args.scores else None
        record and check_output_path(args.output_path, args.overwrite)
        plan = plan_captions(paths, args.caption_extension, args.append,
                             args.overwrite or bool(record), state, args.scores)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    files = [f for f in (args.scores, args.output_path) if f]
    with locked_writer([] if record else caption_folders(plan), files) as writer:
        counts, tagged, failed, refused, unchanged = (
            tag_all(args, plan, writer, state, record) if plan.todo
            else (collections.Counter(), 0, [], [], []))
        record and record.write(writer, args.overwrite)
    closing = (record_summary(args.output_path, tagged, failed, others) if record else
               caption_summary(plan, tagged, failed, args.caption_extension, refused, others,
                               len(unchanged)))
    for line in (*frequency_table(counts, tagged, args.table_rows), *closing):
        print(line)
    return {"tagged": tagged, "skipped": len(plan.skipped), "failed": len(failed),
            "counts": counts, "renamed": plan.renamed, "refused": refused, "others": others}


def tag_all(args, plan, writer, state, record):
    """Tag, caption and score the plan's pictures; (counts, tagged, failed, refused,
    unchanged)."""
    counts, tagged, failed, refused = collections.Counter(), 0, [], []
    unchanged = []  # --append: captions that already held every tag
    style = tag_flags.style_of(args)
    decoding = Decoding(args.workers, args.batch_size, reduced=not args.full_decode,
                        max_pixels=args.max_pixels)
    try:
        with TaggingSession(args.run, tag_flags.choice_of(args), decoding,
                            tag_flags.ALTERNATIVES, args.verbose, args.device) as session, \
                bar(len(plan.todo), "tag", "pic", disable=args.quiet or None) as progress:
            session.start(plan.todo)
            tagger = session.load()
            if not args.quiet:
                progress.write(describe(tagger))
            categories = dict(zip(tagger.tags, tagger.categories))
            scores = ScoresFile.opened(args.scores, tagger.tags, writer, state, args.overwrite,
                                       flush_every=args.batch_size)
            for result in session.results():
                progress.update(1)
                if result.error:
                    failed.append((result.path, result.error))
                    continue
                if scores is not None:
                    scores.add(result.path, result.scores)
                if result.path not in plan.to_caption:
                    continue
                tags = style.tags(result.chosen, result.ratings, categories)
                if record:
                    record.add(result.path, recorded_caption(
                        plan.captions[result.path], tags, style.separator, args.append))
                else:
                    written, problem = caption_picture(writer, plan.captions[result.path], tags,
                                                       style, args.append, args.overwrite)
                    if not written:
                        refused.append(problem) if problem else unchanged.append(result.path)
                        continue
                counts.update(set(tags))
                tagged += 1
                if not args.quiet:
                    progress.write(f"{result.path}: {style.separator.join(tags)}")
            scores and scores.close()
    except (*FAILURES, ValueError) as exc:  # ValueError: a --scores file of other tags
        cli.fail(exc)
    return counts, tagged, failed, refused, unchanged


if __name__ == "__main__":
    main()
