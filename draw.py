"""Predict the tags of any images (screenshots, say) and draw them onto each picture.

Writes <stem>_tags.png per image into --out and prints the tags. Images are prepared
exactly as in training (RGB on white, fitted to the run's square input).

Examples:
  python draw.py screenshot.png --run runs/tagger
  python draw.py pictures/ more.jpg --run runs/tagger --threshold 0.4 --caption --out drawn
  python draw.py shot.png --run runs/tagger --tuned     # the run's per-tag thresholds
"""
import json

import numpy as np

from tagger import cli, locks
from tagger.entry import stage
from tagger.fsutil import atomic_path
from tagger.images import load_rgb
from tagger.render import draw_tags
from tagger.runs import load_run, prepare_batches

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    parser.add_argument("inputs", nargs="+", type=cli.Path, help="image files or folders")
    cli.add_run(parser)
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--top-k", type=cli.positive_int, default=6, help="draw the k most likely tags")
    choose.add_argument("--threshold", type=cli.probability, default=None,
                        help="draw every tag scoring at least this")
    choose.add_argument("--tuned", action="store_true",
                        help="draw the tags over the run's tuned per-tag thresholds")
    parser.add_argument("--out", type=cli.Path, default=cli.Path("drawn"),
                        help="folder for <stem>_tags.png (and .txt / .json)")
    parser.add_argument("--caption", action="store_true",
                        help="also write <stem>.txt: the tags, comma-separated")
    parser.add_argument("--json", action="store_true",
                        help="also write <stem>.json: every tag's score")
    parser.add_argument("--batch-size", type=cli.positive_int, default=64, help="images per predict call")
    return parser.parse_args(argv)


def find_images(inputs):
    """Files given, plus image files under folders given (recursively), in a stable order."""
    found = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                            and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            cli.fail(f"{path}: no such file or folder")
    return found


def choose_tags(scores, tags, top_k, threshold, tuned_thresholds):
    """[(tag, score)] to draw for one image, most likely first."""
    order = np.argsort(-scores, kind="stable")
    if tuned_thresholds is not None:
        return [(tags[j], float(scores[j])) for j in order if scores[j] >= tuned_thresholds[j]]
    if threshold is not None:
        return [(tags[j], float(scores[j])) for j in order if scores[j] >= threshold]
    return [(tags[j], float(scores[j])) for j in order[:top_k]]


def write_outputs(path, out, chosen, scores, tags, caption, as_json):
    """The drawn picture, and optionally the caption and the scores, beside each other."""
    stem = out / path.stem
    picture = draw_tags(load_rgb(str(path)), chosen)
    with atomic_path(stem.with_name(f"{path.stem}_tags.png"), suffix=".png") as tmp:
        picture.save(tmp, "PNG")
    if caption:
        with atomic_path(stem.with_suffix(".txt")) as tmp:
            tmp.write_text(", ".join(t for t, _ in chosen) + "\n", encoding="utf-8")
    if as_json:
        with atomic_path(stem.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps({t: round(float(s), 5) for t, s in zip(tags, scores)},
                                      indent=1) + "\n")
    return stem.with_name(f"{path.stem}_tags.png")


@stage
def main(argv=None):
    args = parse_args(argv)
    with locks.output_folder(args.out):
        return draw(args)


def draw(args):
    """Predict and draw every picture (main's work, with --out locked when it exists)."""
    paths = find_images(args.inputs)
    if not paths:
        cli.fail("no image files found in " + ", ".join(map(str, args.inputs)))
    try:
        run = load_run(args.run)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    if args.tuned and run.thresholds is None:
        cli.fail(f"{args.run} has no thresholds.csv (train.py writes it when the run finishes), "
                 f"so --tuned has nothing to use; pass --threshold or --top-k instead")
    args.out.mkdir(parents=True, exist_ok=True)
    stems = {}
    failed = []
    for indices, arrays in prepare_batches(paths, run.image_size, run.fit, args.batch_size,
                                           lambda i, e: failed.append((paths[i], e))):
        for i, scores in zip(indices, run.predict(arrays, args.batch_size)):
            path = paths[i]
            if path.stem in stems:
                cli.fail(f"{path} and {stems[path.stem]} would both write {path.stem}_tags.png; "
                         f"draw them into different --out folders")
            stems[path.stem] = path
            chosen = choose_tags(scores, run.tags, args.top_k, args.threshold,
                                 run.thresholds if args.tuned else None)
            drawn = write_outputs(path, args.out, chosen, scores, run.tags, args.caption, args.json)
            print(f"{path}: " + ", ".join(f"{t} {s:.2f}" for t, s in chosen) + f"  -> {drawn}")
    for path, error in failed:
        print(f"{path}: skipped, not a readable image ({error})")
    print(f"drew tags on {len(stems):,} images into {args.out}"
          + (f", skipped {len(failed)} unreadable" if failed else ""))
    return stems


if __name__ == "__main__":
    main()
