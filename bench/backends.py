"""Tagging throughput: onnxruntime (tagger.infer.onnx_run) against Keras `predict`, in one run.

Builds the default network (resnet, 1.2M weights) at the default 100x100 with the original
38 tags, saves it as a run folder, exports it with export.py (--format onnx and wd14), and
times predict() of each backend on the same prepared pictures at batch 1 and batch 64.
Writes bench/backends_results.md. Pictures are prepared beforehand: this times the model only
(decoding and resizing cost the same with either backend).

Examples:
  python bench/backends.py
  python bench/backends.py --images 128 --out /tmp/backends.md
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

SIZE = 100  # the original project's input size, the default of the scripts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "tagging",
                        help="folder for the run and its exports (default: %(default)s)")
    parser.add_argument("--images", type=int, default=512,
                        help="pictures per timing at batch 64 (default: %(default)s)")
    parser.add_argument("--single", type=int, default=100,
                        help="pictures per timing at batch 1 (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "backends_results.md",
                        help="results file (default: %(default)s)")
    return parser.parse_args(argv)


def make_run(folder):
    """A run folder with an untrained default network: speed does not depend on weights."""
    from tagger.train.model import build_model

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tags = (ROOT / "dic.txt").read_text().split()
    build_model("resnet", SIZE, len(tags)).save(folder / "model.keras")
    shutil.copy(ROOT / "dic.txt", folder / "dic.txt")
    (folder / "args.json").write_text(json.dumps({"image_size": SIZE, "fit": "pad"}))
    return folder


def rate(predict, pictures, batch_size):
    """Pictures per second of one predict() call per batch of `batch_size` (at 1: one call per
    picture, as when tagging pictures one by one), best of two runs after a warm-up."""
    predict(pictures[:batch_size], batch_size)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for i in range(0, len(pictures), batch_size):
            predict(pictures[i:i + batch_size], batch_size)
        best = min(best, time.perf_counter() - start)
    return len(pictures) / best


def measure(run_folder, n_batched, n_single):
    """{(backend, batch): pictures/s} for Keras, the ONNX export and the WD14 export."""
    from tagger.export.build import export_run
    from tagger.infer.onnx_run import open_onnx
    from tagger.infer.keras_run import load_run

    for fmt in ("onnx", "wd14"):
        export_run(run_folder, fmt, run_folder / "export" / fmt, overwrite=True, log=lambda m: None)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (n_batched, SIZE, SIZE, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (n_batched // 4, 448, 448, 3), dtype=np.uint8)
    backends = [("Keras predict (Run.predict)", load_run(run_folder), small),
                ("onnxruntime, bare export", open_onnx(run_folder / "export" / "onnx"), small),
                ("onnxruntime, WD14 export (448 in)", open_onnx(run_folder / "export" / "wd14"),
                 large)]
    found = {}
    for name, tagger, pictures in backends:
        found[(name, 1)] = rate(tagger.predict, pictures[:n_single], 1)
        found[(name, 64)] = rate(tagger.predict, pictures, 64)
    return found


def write(out, found, load):
    """The table, the machine and how busy the other processes kept it."""
    keras = {b: found[("Keras predict (Run.predict)", b)] for b in (1, 64)}
    lines = ["# Tagging throughput: onnxruntime against Keras predict", "",
             "| backend | batch 1 | batch 64 | vs Keras at 1 | vs Keras at 64 |",
             "|---|---|---|---|---|"]
    for name in dict.fromkeys(n for n, _ in found):
        one, many = found[(name, 1)], found[(name, 64)]
        lines.append(f"| {name} | {one:,.0f} pictures/s | {many:,.0f} pictures/s | "
                     f"{one / keras[1]:.1f}x | {many / keras[64]:.1f}x |")
    lines += ["", f"resnet at {SIZE}x{SIZE}, 38 tags, pictures already prepared (uint8); one "
              f"predict() call per batch (at batch 1, one call per picture); best of two timed "
              f"runs after a warm-up.",
              f"Other processes used {load:.1f} cores on average during the run: timings on a "
              f"shared machine are noisy.", ""] + [f"- {line}" for line in machine.describe()]
    out.write_text("\n".join(lines) + "\n")
    return lines


def main(argv=None):
    args = parse_args(argv)
    meter = machine.LoadMeter()
    found = measure(make_run(args.work / "run"), args.images, args.single)
    for line in write(args.out, found, meter.others())[:len(found) // 2 + 4]:
        print(line)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
