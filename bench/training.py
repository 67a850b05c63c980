"""Training speed through train.py's own loop: images/s, GFLOP/s and the share of the fp32 peak.

Makes the demo's data once (3,000 generated anime thumbnails through download.py, set_dic.py,
deal.py and check.py at 80 px, as `make demo` does), then builds each variant's input
pipeline, network, optimiser and training loop with train.py's own code (tagger.train.trainer
and tagger.train.loop) and times --steps training steps after a warm-up epoch, the variants
taking turns for --rounds rounds, best of each. FLOPs per image are counted from the
network's convolutions and dense layers (a multiply-add is 2); a training step costs about 3
forward passes (the forward pass and the two backward products). The peak is the theoretical
one (bench/machine.py) and the one a large float32 matrix product in NumPy reaches here.

A run that starts with a load average over --max-load, or during which other processes use
more than half a core, is printed but not written as a result (--force writes it, marked).

Examples:
  python bench/training.py                          # ~3 min on an idle 2-core machine
  python bench/training.py --variants resnet resnet-bf16 --rounds 5
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402  (after the path above)

# name: (network, precision, batch normalisation); "keras-bn" is Keras's own layer, the one
# train.py used before tagger.train.layers.FusedBatchNormalization
VARIANTS = {"resnet": ("resnet", "float32", "fused"),
            "resnet-keras-bn": ("resnet", "float32", "keras"),
            "resnet-bf16": ("resnet", "mixed_bfloat16", "fused"),
            "seed_cnn": ("seed_cnn", "float32", "fused")}
MAX_OTHERS = 0.5  # cores other processes may use meanwhile for a result
DEMO_POSTS, DEMO_SIZE, DEMO_BATCH = 3000, 80, 64  # demo.py's data, image size and batch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "training",
                        help="folder for the generated data (default: %(default)s)")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS),
                        default=list(VARIANTS), help="what to time (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH,
                        help="images per step (default: %(default)s, the demo's)")
    parser.add_argument("--steps", type=int, default=20,
                        help="training steps per timing (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="timings of each variant, in turns (default: %(default)s)")
    parser.add_argument("--max-load", type=float, default=1.5,
                        help="a higher 1-minute load average at the start is no result "
                             "(default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="write the results file even from a busy machine, marked as no "
                             "result (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "training_results.md",
                        help="results file (default: %(default)s)")
    return parser.parse_args(argv)


def demo_data(work):
    """The demo's data folder under `work`, made once (generated, downloaded, dealt, checked)."""
    from tagger.demo.pipeline import LocalServer, generate, run_stage, stage_commands

    data = work / "data"
    if (data / "check_report.csv").exists():
        return data
    with LocalServer(work / "server") as server:
        generate(work, DEMO_POSTS, 0, server.url, size=128)
        for argv in stage_commands(work, [], DEMO_SIZE, DEMO_POSTS // 50)[:4]:
            run_stage(argv, [])
    return data


def forward_flops(model):
    """FLOPs of one forward pass of one image: convolutions and dense layers, 2 per
    multiply-add (batch normalisation, activations and pooling are not counted)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            h, w = layer.output.shape[1:3]
            total += 2 * h * w * _product(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * _product(layer.kernel.shape)
    return total


def _product(shape):
    out = 1
    for n in shape:
        out *= int(n)
    return out


def measured_peak(n=4096, repeats=5):
    """GFLOP/s of NumPy's float32 n x n matrix product on every core, best of `repeats`."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


class Timed:
    """One variant built as train.py builds it: its loop, its endless training batches."""

    def __init__(self, name, data, batch_size):
        import keras
        import numpy as np
        import tensorflow as tf
        from keras import layers

        from tagger.core.tags import load_dic
        from tagger.train import model as networks, trainer
        from tagger.train.config import TrainConfig
        from tagger.train.dataset import load_examples, split_ids
        from tagger.train.distributed import Cluster
        from tagger.train.loop import Loop

        network, precision, norm = VARIANTS[name]
        tags = load_dic(data / "dic.txt")
        examples = load_examples(data, tags)
        split = split_ids(examples.ids, 0.1, 0.1, 0)  # train.py's default split
        names = np.array([split[int(i)] for i in examples.ids])
        parts = {s: examples.subset(names == s) for s in ("train", "val")}
        cfg = TrainConfig(run=data.parent / "run", seed=0, image_size=DEMO_SIZE,
                          batch_size=batch_size, model=network)
        strategy, cluster = tf.distribute.get_strategy(), Cluster()
        fused = networks._bn
        if norm == "keras":  # the layer as it was, for the comparison
            networks._bn = lambda: layers.BatchNormalization(momentum=0.9)
        keras.mixed_precision.set_global_policy(precision)
        try:
            self.batches, steps, _ = trainer.datasets(cfg, parts, strategy, cluster)
            model, optimizer = trainer.build(cfg, len(tags), strategy, steps * cfg.epochs, steps)
        finally:
            networks._bn = fused
            keras.mixed_precision.set_global_policy("float32")
        self.loop = Loop(strategy, cluster, model, optimizer, cfg.loss, len(tags), batch_size)
        self.name, self.weights, self.flops = name, model.count_params(), forward_flops(model)
        self.rates = []
        self.loop.train_epoch(self.batches, steps)  # decodes and caches the images, traces

    def time(self, steps):
        self.rates.append(self.loop.train_epoch(self.batches, steps + 1)["images_per_second"])


def rows(variants, peaks):
    """Markdown table rows, one per variant, at its best rate."""
    out = []
    for v in variants:
        rate = max(v.rates)
        gflops = rate * 3 * v.flops / 1e9
        out.append(f"| {v.name} | {v.weights:,} | {v.flops / 1e9:.3f} | {3 * v.flops / 1e9:.3f} "
                   f"| {rate:,.0f} | {gflops:.0f} | {gflops / peaks[0]:.0%} | "
                   f"{gflops / peaks[1]:.0%} |")
    return out


def report(args, variants, peaks, loads, others, busy):
    """The results file's text."""
    head = ("| variant | weights | GFLOP forward / image | GFLOP / trained image | images/s "
            "| GFLOP/s | of theoretical peak | of measured peak |\n|---|---|---|---|---|---|---|---|")
    verdict = (f"**Not a result**: the machine was busy (a load average over {args.max_load} "
               f"at the start, or other processes using over {MAX_OTHERS} cores meanwhile); "
               f"run it again on an idle machine." if busy else "The machine was idle enough "
               f"for a result.")
    return "\n".join([
        "# Training speed through train.py's loop", "",
        f"Made by `python bench/training.py`: the demo's data ({DEMO_POSTS:,} generated "
        f"thumbnails at {DEMO_SIZE} px), batches of {args.batch_size}, best of {args.rounds} "
        f"rounds of {args.steps} steps in which the variants take turns, after a warm-up "
        f"epoch. A trained image costs 3 forward passes; FLOPs count the convolutions and "
        f"dense layers only.", "", head, *rows(variants, peaks), "",
        f"Peaks: theoretical {peaks[0]:.0f} GFLOP/s, measured {peaks[1]:.0f} GFLOP/s (NumPy "
        f"float32 4096 x 4096 matrix product on every core, best of 2 in each round; above the theoretical "
        f"figure when the cores run over the clock /proc/cpuinfo reports).", "",
        f"Load average (1 min) {loads[0]:.2f} at the start, {loads[1]:.2f} at the end; other "
        f"processes used {others:.1f} cores on average meanwhile. {verdict}", "",
        *[f"- {line}" for line in machine.describe()], ""])


def main(argv=None):
    args = parse_args(argv)
    start_load = os.getloadavg()[0]
    busy = start_load > args.max_load
    if busy:
        print(f"load average {start_load:.2f} > --max-load {args.max_load}: the machine is busy, "
              f"so what follows is printed but is not a result", flush=True)
    data = demo_data(args.work)
    meter = machine.LoadMeter()
    variants = [Timed(name, data, args.batch_size) for name in args.variants]
    matmul = []
    for r in range(args.rounds):  # the matrix product takes its turn too
        matmul.append(measured_peak(repeats=2))
        for v in variants:
            v.time(args.steps)
            print(f"round {r + 1}: {v.name} {v.rates[-1]:,.0f} images/s", flush=True)
    peaks, others = (machine.fp32_peak()[0], max(matmul)), meter.others()
    busy = busy or others > MAX_OTHERS
    text = report(args, variants, peaks, (start_load, os.getloadavg()[0]), others, busy)
    print(text)
    if busy and not args.force:
        print(f"not written to {args.out}: the machine was busy (--force writes it, marked)",
              flush=True)
        return 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
