"""Predict the tags of any pictures (screenshots, say) and draw them onto each picture.

Writes <picture stem>_tags.png per picture under --out, mirroring the input folders, and
prints the tags. Pictures are prepared as in training (RGB on white, fitted to the run's
square input); each is decoded once, and drawn at most --max-side pixels long. To caption
pictures without drawing them, use tag.py.

Examples:
  python draw.py screenshot.png --run runs/tagger      # the run's tuned per-tag thresholds
  python draw.py pictures/ more.jpg --run runs/tagger --threshold 0.4 --caption --out drawn
  python draw.py shot.png --run runs/tagger --threshold 0 --max-tags 6   # the 6 most likely
  python draw.py pictures/ --run runs/tagger/export/wd14 --caption   # onnxruntime, no TensorFlow
"""
import collections

from tagger.core import cli
from tagger.core.entry import stage
from tagger.core.progress import bar
from tagger.infer.devices import describe
from tagger.infer.drawing import (check_out, draw_job, drawing_summary, plan_drawing,
                                  write_side_outputs)
from tagger.infer.backends import require_tagger
from tagger.infer.pictures import required_pictures
from tagger.infer.session import FAILURES, Choice, Decoding, TaggingSession
from tagger.infer.writer import locked_writer, remove


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_pictures_and_choice(parser, "draw")
    parser.add_argument("--max-tags", type=cli.non_negative_int, default=0,
                        help="draw at most this many of the chosen tags, the most likely; "
                             "0 = all (--threshold 0 --max-tags 6: the 6 most likely)")
    parser.add_argument("--top-k", type=cli.positive_int, help=cli.SUPPRESS)  # until 2027
    parser.add_argument("--out", type=cli.Path, default=cli.Path("drawn"),
                        help="folder for <stem>_tags.png (and .txt / .json), mirroring the inputs")
    parser.add_argument("--caption", action="store_true",
                        help="also write <stem>.txt: the tags, comma-separated")
    parser.add_argument("--json", action="store_true",
                        help="also write <stem>.json: every tag's score")
    parser.add_argument("--max-side", type=cli.positive_int, default=1600,
                        help="longest side of a drawn picture, px; larger pictures are shrunk")
    cli.add_overwrite(parser, "draw again pictures whose outputs exist (old ones backed up)")
    cli.add_decoding(parser, "decoding and drawing processes; 0 = this one", batch_size=32)
    args = parser.parse_args(argv)
    if args.top_k is not None and args.tuned:
        parser.error("--top-k (the old spelling of --threshold 0 --max-tags) and --tuned: give "
                     "one of them")
    if args.top_k is not None:  # the old spelling of "the k most likely"
        cli.note_renamed("--top-k K", "--threshold 0 --max-tags K")
        args.max_tags, args.threshold = args.top_k, 0.0 if args.threshold is None else args.threshold
    return args


@stage
def main(argv=None):
    args = parse_args(argv)
    try:
        require_tagger(args.run)
        check_out(args.inputs, args.out)
        paths, others = required_pictures(args.inputs, skip_inside=args.out)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    plan = plan_drawing(paths, args.inputs, args.out, args.caption, args.json, args.overwrite)
    with locked_writer([args.out], what="the output folder") as writer:
        tmp = writer.temporary(args.out / "decoded")
        tmp.mkdir()
        try:
            drawn, failed = draw_all(args, plan, writer, str(tmp)) if plan.todo else (0, [])
        finally:
            remove(tmp)
    for line in drawing_summary(args.out, drawn, failed, plan, others):
        print(line)
    return {p: plan.outputs[p][0] for p in plan.todo if p not in dict(failed)}


def draw_all(args, plan, writer, tmp):
    """Predict each picture, write its caption and scores, and draw it in the workers (the
    decoded pictures wait in `tmp`, inside --out, until drawn)."""
    decoding = Decoding(args.workers, args.batch_size, not args.full_decode, draw_dir=tmp,
                        max_side=args.max_side, max_pixels=args.max_pixels)
    choice = Choice(args.threshold, args.max_tags)
    drawing, failed, drawn = collections.deque(), [], 0
    try:
        with TaggingSession(args.run, choice, decoding,
                            "--threshold", args.verbose, args.device) as session, \
                bar(len(plan.todo), "draw", "pic", disable=args.quiet or None) as progress:
            session.start(plan.todo)
            tagger = session.load()
            args.quiet or progress.write(describe(tagger))
            for result in session.results():
                if result.error:
                    failed.append((result.path, result.error))
                    progress.update(1)
                    continue
                picture_out = plan.outputs[result.path][0]
                write_side_outputs(writer, plan, result, tagger.tags, args.overwrite)
                drawing.append(session.pool.submit(draw_job, result.picture_file, result.chosen,
                                                   picture_out, writer, args.overwrite))
                while len(drawing) > 2 * max(args.workers, 1):
                    drawing.popleft().result()
                    progress.update(1)
                drawn += 1
                if not args.quiet:
                    progress.write(f"{result.path}: " + ", ".join(
                        f"{t} {s:.2f}" for t, s in result.chosen) + f"  -> {picture_out}")
            for future in drawing:
                future.result()
                progress.update(1)
    except FAILURES as exc:
        cli.fail(exc)
    return drawn, failed


if __name__ == "__main__":
    main()
