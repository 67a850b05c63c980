"""What decoding pictures at reduced size (tag.py's and draw.py's default) changes against
decoding them whole (--full-decode, exactly as deal.py prepared the training images).

1. mAP on a run's held-out test split: the thumbnails as they are, and the same thumbnails
   enlarged (bicubic) to a random side of 256 to 1,536 px and saved as JPEG quality 90,
   so that there is something to reduce, each prepared both ways.
2. On real pictures: the share of tag decisions (picture x tag, at the run's tuned
   thresholds) that change, and how far the scores move.
Writes the "Reduced decode" section of bench/results.md.

Examples:
  python bench/reduced_decode.py --run runs/faces --data-dir data
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sections import replace_section  # noqa: E402
from tagger.train.dataset import load_examples, read_split  # noqa: E402
from tagger.core.images import prepare  # noqa: E402
from tagger.train.metrics import mean_average_precision  # noqa: E402
from tagger.infer.keras_run import load_run  # noqa: E402



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a trained run with a test split")
    parser.add_argument("--data-dir", type=Path, required=True, help="the data folder it used")
    parser.add_argument("--pictures", type=Path, required=True,
                        help="a folder of real pictures for the decision changes")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md",
                        help="results file whose section is written (default: %(default)s)")
    return parser.parse_args(argv)


def both_ways(run, paths):
    """Scores of `paths` prepared whole and at reduced size, and how many arrays differ."""
    full, reduced, differ, ok = [], [], 0, []
    for i, path in enumerate(paths):
        try:
            a = prepare(str(path), run.image_size, run.fit)
            b = prepare(str(path), run.image_size, run.fit, reduced=True)
        except Exception:  # an unreadable file is left out of both
            continue
        full.append(a)
        reduced.append(b)
        differ += int((a != b).any())
        ok.append(i)
    return run.predict(np.stack(full), 256), run.predict(np.stack(reduced), 256), differ, ok


def enlarge(paths, folder, seed=0):
    """Each thumbnail enlarged to a random long side of 256..1536 px, saved as JPEG q90."""
    rng = np.random.default_rng(seed)
    out = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert("RGB")
            side = int(rng.integers(256, 1537))
            scale = side / max(img.size)
            big = img.resize((round(img.width * scale), round(img.height * scale)),
                             Image.Resampling.BICUBIC)
        target = Path(folder) / (Path(path).stem + ".jpg")
        big.save(target, quality=90)
        out.append(target)
    return out


def decisions(run, full, reduced):
    """Lines on how the tag decisions at the tuned thresholds move between the two decodes."""
    a, b = full >= run.thresholds, reduced >= run.thresholds
    changed = a != b
    delta = np.abs(full - reduced)
    return (f"{changed.mean():.2%} of {changed.size:,} tag decisions changed "
            f"({changed.sum():,}), on {changed.any(axis=1).mean():.1%} of the {len(full):,} "
            f"pictures; scores moved by {delta.mean():.4f} on average, {np.percentile(delta, 99):.3f} "
            f"at the 99th percentile, {delta.max():.3f} at most")


def main(argv=None):
    args = parse_args(argv)
    run = load_run(args.run)
    split = read_split(run.path / "split.csv")
    examples = load_examples(args.data_dir, run.tags)
    test = examples.subset(np.array([split.get(int(i)) == "test" for i in examples.ids]))
    lines = [f"Run `{args.run}` ({run.settings.get('model')}, {run.image_size} px, "
             f"{len(run.tags)} tags, fit {run.fit}) on its {len(test.ids):,} test images.", "",
             "| test images prepared | whole decode mAP | reduced decode mAP | arrays that differ |",
             "|---|---|---|---|"]
    full, reduced, differ, ok = both_ways(run, test.paths)
    labels = test.labels[ok]
    lines.append(f"| as dealt ({run.image_size} px) | {mean_average_precision(labels, full):.4f} | "
                 f"{mean_average_precision(labels, reduced):.4f} | {differ:,} of {len(ok):,} |")
    originals = [args.data_dir / "images" / f"{int(i)}.jpg" for i in test.ids]
    with tempfile.TemporaryDirectory() as tmp:
        big = enlarge(originals, tmp)
        full_b, reduced_b, differ_b, ok_b = both_ways(run, big)
    labels_b = test.labels[ok_b]
    lines.append(f"| enlarged to 256-1,536 px, JPEG q90 | {mean_average_precision(labels_b, full_b):.4f}"
                 f" | {mean_average_precision(labels_b, reduced_b):.4f} | {differ_b:,} of {len(ok_b):,} |")
    lines += ["", f"- enlarged test images: {decisions(run, full_b, reduced_b)}."]
    pictures = sorted(p for p in args.pictures.iterdir() if p.is_file())
    full_r, reduced_r, differ_r, ok_r = both_ways(run, pictures)
    lines.append(f"- {len(ok_r):,} real pictures ({args.pictures.name}): "
                 f"{decisions(run, full_r, reduced_r)}; {differ_r:,} prepared arrays differ.")
    replace_section(args.out, "Reduced decode: what it changes (bench/reduced_decode.py)", lines)
    print("\n".join(lines) + f"\nwrote its section of {args.out}")


if __name__ == "__main__":
    main()
