"""Predict the tags of any pictures (screenshots, say) and draw them onto each picture.

Writes <picture stem>_tags.png per picture under --out, mirroring the input folders, and
prints the tags. Pictures are prepared as in training (RGB on white, fitted to the run's
square input); each is decoded once, and drawn at most --max-side pixels long. To caption
pictures without drawing them, use tag.py.

Examples:
  python draw.py screenshot.png --run runs/tagger      # the run's tuned per-tag thresholds
  python draw.py pictures/ more.jpg --run runs/tagger --threshold 0.4 --caption --out drawn
  python draw.py shot.png --run runs/tagger --top-k 6   # the 6 most likely tags
  python draw.py pictures/ --run runs/tagger/export/wd14 --caption   # onnxruntime, no TensorFlow
"""
import collections
import tempfile

from tagger.core import cli, locks
from tagger.core.entry import stage
from tagger.infer.captions import write_text
from tagger.infer.inference import (DecodeStream, WorkerDied, choose, draw_job, find_pictures,
                              load_tagger, mirror, missing_thresholds, open_pool, peek_input,
                              plan_names, predict_stream, renamed_lines, scores_json, with_suffix)
from tagger.core.progress import bar, plural


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    choose_group = cli.add_pictures_and_choice(parser, "draw")
    choose_group.add_argument("--top-k", type=cli.positive_int, default=None,
                              help="draw the k most likely tags")
    parser.add_argument("--out", type=cli.Path, default=cli.Path("drawn"),
                        help="folder for <stem>_tags.png (and .txt / .json), mirroring the inputs")
    parser.add_argument("--caption", action="store_true",
                        help="also write <stem>.txt: the tags, comma-separated")
    parser.add_argument("--json", action="store_true",
                        help="also write <stem>.json: every tag's score")
    parser.add_argument("--max-side", type=cli.positive_int, default=1600,
                        help="longest side of a drawn picture, px; larger pictures are shrunk")
    cli.add_overwrite(parser, "draw again pictures whose outputs exist")
    cli.add_decoding(parser, "decoding and drawing processes; 0 = this one", batch_size=32)
    return parser.parse_args(argv)


def check_out(inputs, out):
    """Refuse an --out that is an input folder or holds one: outputs would mix with pictures."""
    real_out = out.resolve()
    for path in inputs:
        real = path.resolve()
        if path.is_dir() and (real == real_out or real_out in real.parents):
            cli.fail(f"--out {out} is, or holds, the input folder {path}: choose a folder "
                     f"outside it or inside it (outputs inside an input are never re-tagged)")


def plan(paths, inputs, out, caption, as_json, overwrite):
    """{picture: its output paths}, the pictures still to draw, and those renamed."""
    names, renamed = plan_names(paths, mirror(inputs, out))
    suffixes = ["_tags.png"] + [".txt"] * caption + [".json"] * as_json
    outputs = {p: [with_suffix(names[p], s) for s in suffixes] for p in paths}
    todo = [p for p in paths if overwrite or not all(o.exists() for o in outputs[p])]
    return outputs, todo, renamed


def draw_all(args, tagger, stream, outputs, pool):
    """Predict each picture, write its caption and scores, and draw it in the workers."""
    drawing, failed, drawn = collections.deque(), [], 0
    with bar(len(stream.paths), "draw", "pic") as progress:
        for item, row in predict_stream(tagger, stream, args.batch_size):
            if row is None:
                failed.append((item.path, item.error))
                progress.update(1)
                continue
            chosen = choose(row, tagger.tags, tagger.thresholds, args.threshold, args.top_k)
            picture_out, *others = outputs[item.path]
            for path in others:
                write_text(path, ", ".join(t for t, _ in chosen) + "\n" if path.suffix == ".txt"
                           else scores_json(tagger.tags, row))
            drawing.append(pool.submit(draw_job, item.picture_file, chosen, picture_out))
            while len(drawing) > 2 * max(args.workers, 1):
                drawing.popleft().result()
                progress.update(1)
            drawn += 1
            if not args.quiet:
                progress.write(f"{item.path}: " + ", ".join(f"{t} {s:.2f}" for t, s in chosen)
                               + f"  -> {picture_out}")
        for future in drawing:
            future.result()
            progress.update(1)
    return drawn, failed


@stage
def main(argv=None):
    args = parse_args(argv)
    check_out(args.inputs, args.out)
    with locks.output_folder(args.out):
        return draw(args)


def draw(args):
    """Predict and draw every picture (main's work, with --out locked when it exists)."""
    try:
        paths = find_pictures(args.inputs, skip_inside=args.out)
    except FileNotFoundError as exc:
        cli.fail(exc)
    if not paths:
        cli.fail("no pictures found in " + ", ".join(map(str, args.inputs)))
    outputs, todo, renamed = plan(paths, args.inputs, args.out, args.caption, args.json,
                                  args.overwrite)
    pool = open_pool(args.workers if todo else 0)
    try:
        with tempfile.TemporaryDirectory(prefix="draw-") as tmp:
            drawn, failed = run(args, todo, outputs, pool, tmp) if todo else (0, [])
    except WorkerDied as exc:
        cli.fail(exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for path, error in failed:
        print(f"{path}: skipped, not a readable picture ({error})")
    for line in renamed_lines(renamed, "drawn", lambda p: outputs[p][0].name):
        print(line)
    print(f"drew tags on {plural(drawn, 'picture')} into {args.out}"
          + f", already drawn {len(paths) - len(todo):,} (skipped; --overwrite to redo)"
          + (f", skipped {len(failed):,} unreadable" if failed else "")
          + (f", {len(renamed):,} named after their whole file name (stems clash)"
             if renamed else ""))
    return {p: outputs[p][0] for p in todo if p not in dict(failed)}


def run(args, todo, outputs, pool, tmp):
    """Start decoding, load the tagger meanwhile, then predict and draw."""
    spec = peek_input(args.model or args.run)
    # pictures wait on disk (tmp) until drawn: a small window bounds that space too
    options = dict(reduced=not args.full_decode, window=args.batch_size + 2 * args.workers,
                   draw_dir=tmp, max_side=args.max_side)
    stream = DecodeStream(pool, todo, *spec, **options) if spec else None
    try:
        tagger = load_tagger(args.model or args.run)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    if args.threshold is None and args.top_k is None and tagger.thresholds is None:
        cli.fail(missing_thresholds(tagger, args.model or args.run, "--threshold or --top-k"))
    if stream is None or (tagger.image_size, tagger.fit) != spec:
        stream = DecodeStream(pool, todo, tagger.image_size, tagger.fit, **options)
    return draw_all(args, tagger, stream, outputs, pool)


if __name__ == "__main__":
    main()
