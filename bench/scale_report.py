"""bench/scale.py's results as Markdown: time and peak memory per stage and size, the input
pipeline against its ceiling, and one against two workers."""
import os
import platform

STAGES = ("download", "set_dic", "deal", "check", "train", "test", "draw")
WHAT = {
    "download": "download.py --limit N over HTTP from 127.0.0.1 (no added latency), 32 workers",
    "set_dic": "set_dic.py --max-tags 38 over the row window download.py recorded: the first "
               "N rows of the CSV",
    "deal": "deal.py --image-size 64 over the recorded window, 2 processes",
    "check": "check.py (no cap, the default): full decode, duplicates, 2 processes",
    "train": "train.py's setup (labels.csv, tag folders, split) + 5 warm-up and --steps timed "
             "steps of batch 128 (resnet, 64 px) from its real pipeline",
    "test": "test.py on the run's test split (10% of N)",
    "draw": "draw.py on one picture in a hundred (N/100)",
}


# images each stage handles at N: test.py scores the 10% test split, draw.py one in a hundred
SHARE = {"test": 0.1, "draw": 0.01}
FULL_DUMP = 3_000_000  # rows of the Kaggle all_data.csv, about


def _cell(entry, n):
    if entry is None:
        return "-"
    per = entry["seconds"] / n * 1e6
    cpu = f", CPU {entry['cpu_seconds']:,.0f} s" if "cpu_seconds" in entry else ""
    load = f", load {entry['load']:.1f}" if "load" in entry else ""
    return (f"{entry['seconds']:,.0f} s ({per:,.0f} us/image){cpu}, "
            f"{entry['peak_mb']:,.0f} MB{load}")


def _verdict(first, last, growth):
    """How time and memory grew from the smallest to the largest size."""
    if first is None or last is None:
        return "-"
    t, m = last["seconds"] / first["seconds"], last["peak_mb"] / first["peak_mb"]
    cpu = (f", CPU x{last['cpu_seconds'] / first['cpu_seconds']:.2f}"
           if "cpu_seconds" in first and "cpu_seconds" in last else "")
    return f"time x{t:.2f}{cpu}, memory x{m:.2f} (images x{growth:g})"


def _projected(first, last, n_first, n_last):
    """Peak memory at the full dump's rows, carried on along the line through the two largest
    sizes: an upper bound where the growth is a cache filling up or a vocabulary's."""
    if first is None or last is None or n_last == n_first:
        return "-"
    per_image = (last["peak_mb"] - first["peak_mb"]) / (n_last - n_first)
    return f"{last['peak_mb'] + per_image * (FULL_DUMP - n_last):,.0f} MB"


def stage_table(results, sizes):
    head = ("| stage | " + " | ".join(f"{n:,} images" for n in sizes)
            + f" | growth | memory at {FULL_DUMP:,} (projected) |")
    lines = [head, "|" + "---|" * (len(sizes) + 3)]
    for stage in STAGES:
        entries = [results.get(f"{stage} {n}") for n in sizes]
        if not any(entries):
            continue
        growth = sizes[-1] / sizes[0]
        lines.append(f"| {stage} | " + " | ".join(_cell(e, n * SHARE.get(stage, 1))
                                                  for e, n in zip(entries, sizes))
                     + f" | {_verdict(entries[0], entries[-1], growth)} | "
                     f"{_projected(entries[-2], entries[-1], sizes[-2], sizes[-1])} |")
    extra = []
    for stage in ("train", "test"):
        for n in sizes:
            e = results.get(f"{stage} {n}")
            if e and stage == "train":
                extra.append(f"- train at {n:,}: setup {e['setup_seconds']:.1f} s, "
                             f"{e['images_per_second']:.0f} images/s over the timed steps")
    return "\n".join(lines + [""] + extra)


def _best(results, prefix, key="images_per_second"):
    values = [v[key] for k, v in results.items() if k.startswith(prefix) and key in v]
    if not values:
        return None
    return max(values) if key == "images_per_second" else min(values)


def _cpu(results, prefix):
    value = _best(results, prefix, "cpu_ms_per_image")
    return f"{value:.2f}" if value else "-"


def input_table(results):
    files, records, memory = (_best(results, f"rate {s} ") for s in ("files", "tfrecord", "memory"))
    if not files or not memory:
        return "(not run)"
    lines = ["| training fed from | images/s (best of 2) | against the in-memory ceiling | "
             "CPU ms per image (least of 2) | input pipeline alone: images/s, CPU ms per image |",
             "|---|---|---|---|---|"]
    for name, rate, key in (("files, cache off (one read + decode per image)", files, "files"),
                            ("TFRecord shards, interleave (decode per image)", records, "tfrecord"),
                            ("decoded images in memory (the ceiling)", memory, "memory")):
        if rate:
            alone = results.get(f"input {key}", {})
            lines.append(f"| {name} | {rate:,.0f} | {rate / memory:.0%} | "
                         f"{_cpu(results, f'rate {key} ')} | "
                         + (f"{alone['images_per_second']:,.0f}, {_cpu(results, f'input {key}')}"
                            if alone else "-") + " |")
    return "\n".join(lines)


def workers_table(results):
    one, two = _best(results, "workers 1 "), _best(results, "workers 2 ")
    if not one or not two:
        return "(not run)"
    return ("| training workers on this machine | images/s (best of 2) | CPU ms per image |\n"
            "|---|---|---|\n"
            f"| 1 worker, batch 128 | {one:,.0f} | {_cpu(results, 'workers 1 ')} |\n"
            f"| 2 workers (MultiWorkerMirroredStrategy over 127.0.0.1), 64 each | {two:,.0f} "
            f"({two / one:.2f}x) | {_cpu(results, 'workers 2 ')} |")


def _loads(results):
    """The one-minute load averages the measurements saw, as a sentence."""
    loads = [e["load"] for e in results.values() if isinstance(e, dict) and "load" in e]
    if not loads:
        return "load average not recorded"
    return (f"load average {min(loads):.1f} to {max(loads):.1f} while the stages ran (each "
            f"stage's own processes included: deal.py and check.py run 2)")


def write(path, results, args):
    """Write the Markdown file at `path`."""
    sizes = [n for n in args.sizes if any(k.endswith(f" {n}") for k in results)] or args.sizes
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = [
        "# Scale bench", "",
        f"`python bench/scale.py --sizes {','.join(map(str, args.sizes))} --csv-rows "
        f"{args.csv_rows} --steps {args.steps}` on {platform.processor() or platform.machine()}, "
        f"{cores} cores, {_loads(results)}.", "",
        "Each cell: wall time (per image handled, process start-up included), CPU time (user + "
        "system, the process and its children: less disturbed by the other jobs than wall "
        "time) and peak resident memory of the stage's process and its children. "
        "What each stage ran:", "",
        *[f"- {k}: {v}" for k, v in WHAT.items()], "",
        stage_table(results, sizes), "",
    ]
    whole = [v for k, v in results.items() if k.startswith("set_dic all")]
    if whole:
        text += [f"set_dic.py over the whole {args.csv_rows:,}-row CSV: "
                 f"{whole[0]['seconds']:,.0f} s, {whole[0]['peak_mb']:,.0f} MB.", ""]
    text += ["## Input pipeline at the largest size", "", input_table(results), "",
             "## One against two training workers", "", workers_table(results), ""]
    path.write_text("\n".join(text))
