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
from tagger.infer.captions import CaptionStyle, ScoresFile, frequency_table, split_tags, write_text
from tagger.infer.inference import (IMAGE_SUFFIXES, DecodeStream, WorkerDied, choose, find_pictures,
                              load_tagger, missing_thresholds, open_pool, peek_input, plan_names,
                              predict_stream, renamed_lines, with_suffix)
from tagger.core.progress import bar, plural


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


def plan(paths, ext, append, overwrite, scored):
    """{picture: caption path}, the pictures to caption, the pictures to run through the
    model (to caption, or only for a missing --scores row), and the names changed."""
    names, renamed = plan_names(paths, lambda p: p.parent)
    captions = {p: with_suffix(names[p], ext) for p in paths}
    to_caption = {p for p in paths if append or overwrite or not captions[p].exists()}
    todo = [p for p in paths if p in to_caption or (scored is not None and str(p) not in scored)]
    return captions, to_caption, todo, renamed


def caption_one(path, caption_path, chosen, style, append, write_caption):
    """Write one picture's caption (if it needs one); return its tags."""
    tags = style.tags(chosen)
    if write_caption:
        existing = None
        if append and caption_path.exists():
            existing = caption_path.read_text(encoding="utf-8", errors="replace")
        write_text(caption_path, style.text(tags, existing))
    return tags


def tag_all(args, tagger, stream, captions, to_caption, scores, style, progress):
    """Predict, caption and record every decoded picture; return (counts, tagged, failed).
    `progress` was opened before the model loaded, so its rate and ETA count start-up."""
    counts, tagged, failed = collections.Counter(), 0, []
    for item, row in predict_stream(tagger, stream, args.batch_size):
        progress.update(1)
        if row is None:
            failed.append((item.path, item.error))
            continue
        if scores is not None:
            scores.add(item.path, row)
        chosen = choose(row, tagger.tags, tagger.thresholds, args.threshold)
        write_caption = item.path in to_caption
        tags = caption_one(item.path, captions[item.path], chosen, style, args.append,
                           write_caption)
        if write_caption:
            counts.update(set(tags))
            tagged += 1
            if not args.quiet:
                progress.write(f"{item.path}: {style.separator.join(tags)}")
        if scores is not None and progress.n % args.batch_size == 0:
            scores.flush()
    return counts, tagged, failed


def summary(args, tagged, skipped, failed, renamed, captions):
    """The closing lines: what was written, skipped, refused, and renamed."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += renamed_lines(renamed, "captioned", lambda p: captions[p].name)
    text = (f"captioned {plural(tagged, 'picture')} ({args.caption_extension} beside each)"
            f", already captioned {len(skipped):,} (skipped; --overwrite or --append to redo)")
    if failed:
        text += f", unreadable {len(failed):,}"
    if renamed:
        text += (f", {len(renamed):,} named after their whole file name because their stems "
                 f"clash (a trainer looking for <stem>{args.caption_extension} will not find "
                 f"them: rename the pictures)")
    return lines + [text]


@stage
def main(argv=None):
    args = parse_args(argv)
    try:
        paths = find_pictures(args.inputs)
    except FileNotFoundError as exc:
        cli.fail(exc)
    if not paths:
        cli.fail("no pictures found in " + ", ".join(map(str, args.inputs)))
    scored = ScoresFile.images_in(args.scores) if args.scores and not args.overwrite else None
    captions, to_caption, todo, renamed = plan(paths, args.caption_extension, args.append,
                                               args.overwrite, scored)
    skipped = [p for p in paths if p not in to_caption]
    style = CaptionStyle(args.separator, args.remove_underscore,
                         frozenset(split_tags(args.undesired_tags, args.separator)),
                         tuple(split_tags(args.always_first_tags, args.separator)), args.max_tags)
    pool = open_pool(args.workers if todo else 0)
    try:
        counts, tagged, failed = (run(args, todo, captions, to_caption, style, pool) if todo
                                  else (collections.Counter(), 0, []))
    except WorkerDied as exc:
        cli.fail(exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for line in frequency_table(counts, tagged, args.top_tags):
        print(line)
    for line in summary(args, tagged, skipped, failed, renamed, captions):
        print(line)
    return {"tagged": tagged, "skipped": len(skipped), "failed": len(failed), "counts": counts,
            "renamed": renamed}


def window(size, batch_size, budget_mb=64):
    """Pictures decoded ahead of the network: as many as fit in `budget_mb` of model
    inputs (2,000 at 100 px), so the workers keep decoding while TensorFlow starts."""
    return max(2 * batch_size, min(2048, budget_mb * 2**20 // (size * size * 3)))


def run(args, todo, captions, to_caption, style, pool):
    """Decode (started before the model loads), tag and caption the pictures in `todo`."""
    spec = peek_input(args.model or args.run)
    stream = DecodeStream(pool, todo, *spec, reduced=not args.full_decode,
                          window=window(spec[0], args.batch_size)) if spec and todo else None
    with bar(len(todo), "tag", "pic") as progress:  # open while TensorFlow loads
        try:
            tagger = load_tagger(args.model or args.run)
        except (OSError, ValueError) as exc:
            cli.fail(exc)
        if args.threshold is None and tagger.thresholds is None:
            cli.fail(missing_thresholds(tagger, args.model or args.run, "--threshold"))
        return tag_loaded(args, todo, captions, to_caption, style, pool, spec, stream, tagger,
                          progress)


def tag_loaded(args, todo, captions, to_caption, style, pool, spec, stream, tagger, progress):
    """The rest of run() once the tagger is loaded."""
    if stream is None or (tagger.image_size, tagger.fit) != spec:
        stream = DecodeStream(pool, todo, tagger.image_size, tagger.fit,
                              reduced=not args.full_decode,
                              window=window(tagger.image_size, args.batch_size))
    scores = None
    if args.scores:
        try:
            scores = ScoresFile(args.scores, tagger.tags, args.overwrite)
        except (OSError, ValueError) as exc:
            cli.fail(exc)
    try:
        return tag_all(args, tagger, stream, captions, to_caption, scores, style, progress)
    finally:
        if scores is not None:
            scores.close()


if __name__ == "__main__":
    main()
