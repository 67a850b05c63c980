"""The model stages: training's input pipeline against the in-memory ceiling, and inference."""
from bench.machine import fp32_peak
from bench.measure import median
from bench.report import Row, per_second, times
from bench.stages_data import memory_entry

BATCH = 200  # train.py's default --batch-size


def train_stage(b, dealt, dic):
    """Steady-state images per second of seed_cnn fitted through train.py's pipeline or in memory."""
    n, epochs = b.sizes["train_images"], 1 + b.repeats  # the first epoch is reported apart
    samples = {}
    for mode in ("pipeline", "memory"):
        samples[mode] = b.run(f"train-{mode}", "bench.tf_work", "train", {
            "data_dir": str(dealt), "dic_path": str(dic), "n_images": n, "epochs": epochs,
            "mode": mode, "batch_size": BATCH})
    flops = b.run("train-reference", "bench.tf_work", "reference", {}).result
    ceiling = flops["gflops"]
    items = samples["pipeline"].result["items"]
    steady = {m: items / median(s.result["epoch_seconds"][1:]) for m, s in samples.items()}
    first = {m: items / s.result["epoch_seconds"][0] for m, s in samples.items()}
    per_image = 3 * flops["forward"]  # a training step: forward, then about 2x for backward
    achieved = {m: steady[m] * per_image / 1e9 for m in steady}
    peak_gflops, how = fp32_peak()
    ratio = steady["pipeline"] / steady["memory"]
    rows = [
        Row(f"train seed_cnn 100x100, {items:,} images, batch {BATCH} (steady epochs)",
            f"in-memory ceiling: {per_second(steady['memory'], 'images')}",
            f"train.py's pipeline: {per_second(steady['pipeline'], 'images')}",
            f"{ratio:.2f} " + (f"(pipeline costs {1 - ratio:.0%})" if ratio < 1 else
                               "(no cost measurable)"), "pipeline costs <= 10%",
            ratio >= 0.9, "train"),
        Row("train, fp32 rate (3x forward FLOPs)",
            f"peak {peak_gflops:,.0f} GFLOP/s theoretical; a 2048^2 matmul reaches "
            f"{ceiling:,.0f} here",
            f"{achieved['pipeline']:,.0f} GFLOP/s (pipeline), {achieved['memory']:,.0f} "
            f"(in memory)", f"{achieved['pipeline'] / peak_gflops:.0%} of peak, "
            f"{achieved['pipeline'] / ceiling:.0%} of the matmul"),
    ]
    memory = [memory_entry("train: seed_cnn through train.py's pipeline", [samples["pipeline"]]),
              memory_entry("train: seed_cnn on in-memory tensors", [samples["memory"]])]
    detail = {"first": first, "flops": flops, "how": how, "per_image": per_image, "ratio": ratio}
    return rows, memory, detail


def inference_stage(b, thumbnails):
    """Images per second predicted: prepare_batches + batched predict, or one by one."""
    paths = sorted(str(p) for p in thumbnails.glob("*.jpg"))
    sizes = {"batched": b.sizes["infer_batched"], "single": b.sizes["infer_single"]}
    samples = {m: b.run(f"inference-{m}", "bench.tf_work", "inference",
                        {"paths": paths[:sizes[m]], "mode": m, "repeats": b.repeats})
               for m in sizes}
    speed = {m: sizes[m] / median(s.result["pass_seconds"]) for m, s in samples.items()}
    ratio = speed["batched"] / speed["single"]
    rows = [Row("inference seed_cnn, 150x150 JPEGs (decode, fit, predict)",
                f"one image per predict: {per_second(speed['single'], 'images')}",
                f"prepare_batches + batched predict: {per_second(speed['batched'], 'images')}",
                times(ratio), ">= 5x", ratio >= 5, "inference")]
    memory = [memory_entry("inference: one image per predict call", [samples["single"]]),
              memory_entry("inference: prepare_batches + batched predict", [samples["batched"]])]
    return rows, memory, {}
