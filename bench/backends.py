"""Tagging throughput: every path through the network (Keras `predict`, tag.py's tf.function,
XLA, onnxruntime as tag.py opens it and on one thread), in FLOP/s and share of the fp32 peak.

Builds the default network (resnet, 1.2M weights) at the default 100x100 with the original
38 tags, saves it as a run folder, exports it with export.py (--format onnx and wd14), and
times predict() of each path on the same prepared pictures at batch 1 and batch 64.
Writes bench/backends_results.md. Pictures are prepared beforehand: this times the model only
(decoding and resizing cost the same with either backend).

Examples:
  python bench/backends.py
  python bench/backends.py --images 128 --out /tmp/backends.md
"""
import argparse
import json
import os
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
    """{(backend, batch): pictures/s} for each path through the network, and {backend: FLOPs
    a picture} counted from the exports' graphs."""
    from bench.flops import flops_per_picture
    from tagger.export.build import export_run
    from tagger.infer.keras_run import load_run
    from tagger.infer.onnx_run import open_onnx

    for fmt in ("onnx", "wd14"):
        export_run(run_folder, fmt, run_folder / "export" / fmt, overwrite=True, log=lambda m: None)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (n_batched, SIZE, SIZE, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (n_batched // 4, 448, 448, 3), dtype=np.uint8)
    run = load_run(run_folder)
    bare, wd = (run_folder / "export" / f for f in ("onnx", "wd14"))
    flops = {f: flops_per_picture(next(d.glob("*.onnx"))) for f, d in (("bare", bare), ("wd", wd))}
    paths = [("Keras `model.predict`", keras_predict(run.model), small, "bare"),
             ("`tf.function` (tag.py's path for a Keras run)", run.predict, small, "bare"),
             ("`tf.function`, XLA (jit_compile)", xla_predict(run.model, SIZE), small, "bare"),
             ("onnxruntime, bare export, as tag.py opens it", open_onnx(bare).predict, small,
              "bare"),
             ("onnxruntime, bare export, 1 thread", one_thread(bare).predict, small, "bare"),
             ("onnxruntime, WD14 export (448 in), as tag.py opens it", open_onnx(wd).predict,
              large, "wd")]
    found, cost = {}, {}
    for name, predict, pictures, graph in paths:
        found[(name, 1)] = rate(predict, pictures[:n_single], 1)
        found[(name, 64)] = rate(predict, pictures, 64)
        cost[name] = flops[graph]
    return found, cost


def keras_predict(model):
    return lambda x, batch_size: model.predict(np.asarray(x, np.float32), batch_size=batch_size,
                                               verbose=0)


def xla_predict(model, size):
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False), jit_compile=True,
                          input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    return lambda x, batch_size: np.concatenate(
        [forward(np.asarray(x[i:i + batch_size], np.float32)).numpy()
         for i in range(0, len(x), batch_size)])


def one_thread(folder):
    """The bare export on one onnxruntime thread: the network's rate on one core."""
    import onnxruntime

    from tagger.infer import onnx_run

    def session(model_file, device="cpu"):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        return onnx_run.devices.onnx_session(model_file, options, device)

    made, onnx_run.onnx_session = onnx_run.onnx_session, session
    try:
        return onnx_run.open_onnx(folder)
    finally:
        onnx_run.onnx_session = made


def write(out, found, cost, load, measured):
    """The table, the machine, the peak measured with a matmul, and how busy others kept it."""
    from bench.machine import cores, fp32_peak

    peak, ceiling = fp32_peak()[0], measured[1] * cores()  # one core's matmul, on every core
    lines = ["# Tagging throughput: each path through the network, against the fp32 peak", "",
             "| path | GFLOP a picture | batch 1 | batch 64 | GFLOP/s at 64 | share of the "
             f"peak ({peak:.0f}) at 64 | share of the matmul ceiling ({ceiling:.0f}) |",
             "|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(n for n, _ in found):
        one, many = found[(name, 1)], found[(name, 64)]
        per_core = "1 thread" in name
        used = cores() if per_core else 1
        share, high = (many * cost[name] / 1e9 / (x / used) for x in (peak, ceiling))
        mark = " of one core" if per_core else ""
        lines.append(f"| {name} | {cost[name] / 1e9:.3f} | {one:,.0f} pictures/s | "
                     f"{many:,.0f} pictures/s | {many * cost[name] / 1e9:.0f} | {share:.0%}{mark}"
                     f" | {high:.0%}{mark} |")
    lines += ["", f"The default resnet at {SIZE}x{SIZE}, 38 tags, untrained (speed does not "
              f"depend on the weights); pictures already prepared (uint8); one predict() call "
              f"per batch; best of two timed runs after a warm-up. FLOPs: the convolutions and "
              f"matrix products of the exported graph (bench/flops.py).",
              f"The peak: {peak:.0f} GFLOP/s in theory ({fp32_peak()[1]}); a 2048x2048 float32 "
              f"matmul (NumPy's BLAS) measured {measured[1]:.0f} GFLOP/s on 1 thread and "
              f"{measured[cores()]:.0f} on {cores()}: above the theoretical figure on one core, so "
              f"the cores run faster than the clock /proc/cpuinfo reports (turbo), and the "
              f"ceiling is taken as one core's matmul on every core.",
              f"Other processes used {load:.1f} cores on average during the run (load average "
              f"{os.getloadavg()[0]:.2f} at the end)" + (": a busy machine, these figures are "
              "noise." if load > 0.2 else "."), ""] + [f"- {line}" for line in machine.describe()]
    out.write_text("\n".join(lines) + "\n")
    return lines


def main(argv=None):
    args = parse_args(argv)
    from bench.flops import matmul_rate

    meter = machine.LoadMeter()
    measured = {t: matmul_rate(t, repeats=8) for t in (1, machine.cores())}
    found, cost = measure(make_run(args.work / "run"), args.images, args.single)
    for line in write(args.out, found, cost, meter.others(), measured)[:len(found) // 2 + 4]:
        print(line)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
