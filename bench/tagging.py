"""Tagging a folder of real pictures: how close tag.py comes to this machine's limit, and
tag.py, draw.py and draw.py as of commit 9c0eb22 as whole commands (start-up included), beside
Pillow's full-decode rate, in one run.

The limit (bench/tagging_limit.py, written to bench/tagging_results.md): tag.py's own decode's
CPU plus the network's at its best rate, over the cores, plus the backend's start-up; tag.py's
wall time as a share of it, for the run and its ONNX export, and where the rest goes. A run
that starts with a load average over 1.5 says it is noise, not a result.

Copies the real pictures under new names until there are at least --count, makes a run
(the default network at 100 px, untrained: speed does not depend on the weights, unless
--run is given), then times each command and samples the memory of its whole process tree.
Writes the "Tagging real pictures" section of bench/results.md (the rest is left alone).

Examples:
  python bench/tagging.py --pictures FOLDER          # ~10 min on 2 busy cores
  python bench/tagging.py --pictures FOLDER --limit-only --run RUN   # the limit, ~1 min
  python bench/tagging.py --pictures FOLDER --count 300 --out /tmp/tagging.md  # a quick look
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine, tagging_limit  # noqa: E402  (after the path above)
from bench.sections import replace_section  # noqa: E402

OLD_COMMIT = "9c0eb22"  # draw.py before tag.py: one process, full decodes, predict per batch
DECODE = """import sys, time
from pathlib import Path
from PIL import Image
files = sorted(p for p in Path(sys.argv[1]).iterdir())
start, ok = time.perf_counter(), 0
for f in files:
    try:
        with Image.open(f) as img:
            img.load()
        ok += 1
    except Exception:
        pass
print(len(files), ok, time.perf_counter() - start, time.process_time())
"""
NETWORK = """import sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from tagger.infer.keras_run import load_run
run = load_run(sys.argv[1])
x = np.random.default_rng(0).integers(0, 256, (int(sys.argv[3]), run.image_size,
                                                run.image_size, 3), dtype=np.uint8)
run.predict(x[:64], 64)
start = time.perf_counter()
for i in range(0, len(x), 64):
    run.predict(x[i:i + 64], 64)
print(time.perf_counter() - start, time.process_time())
"""
MAKE_RUN = """import json, shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tagger.train.model import build_model
run = Path(sys.argv[1]); run.mkdir(parents=True, exist_ok=True)
shutil.copy(Path(sys.argv[2]) / "dic.txt", run / "dic.txt")
tags = (run / "dic.txt").read_text().split()
build_model("resnet", 100, len(tags)).save(run / "model.keras")
(run / "args.json").write_text(json.dumps({"image_size": 100, "fit": "pad", "model": "resnet",
                                           "data_dir": "data"}))
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pictures", type=Path, required=True,
                        help="a folder of your own real pictures (any sizes and formats)")
    parser.add_argument("--count", type=int, default=2000,
                        help="copy the pictures until there are at least this many (default: %(default)s)")
    parser.add_argument("--run", type=Path, default=None,
                        help="run to tag with (default: an untrained default network at 100 px)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md",
                        help="results file whose tagging section is written (default: %(default)s)")
    parser.add_argument("--skip-old", action="store_true",
                        help="leave out draw.py of commit 9c0eb22 (the slowest command)")
    parser.add_argument("--limit-only", action="store_true",
                        help="only the limit and tag.py's share of it (no draw.py)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="tag.py and Pillow timed in turns, best of this many (default: "
                             "%(default)s)")
    parser.add_argument("--limit-out", type=Path, default=ROOT / "bench" / "tagging_results.md",
                        help="results file of the limit (default: %(default)s)")
    return parser.parse_args(argv)


def copy_pictures(source, dest, count):
    """Copies of every picture under new names (NN_name), until there are `count`."""
    files = sorted(p for p in source.iterdir() if p.is_file())
    dest.mkdir(parents=True)
    for k in range(math.ceil(count / len(files))):
        for f in files:
            shutil.copy(f, dest / f"{k:02d}_{f.name}")
    return sorted(dest.iterdir())


def tree_rss(pid):
    """Resident memory of a process and all its descendants, and of the largest one, MB."""
    total, largest, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                rss = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0) / 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
        total, largest = total + rss, max(largest, rss)
    return total, largest


def measure(command, cwd, log):
    """Run a command; return wall seconds, peak tree RSS and peak single-process RSS (MB)."""
    peaks = [0.0, 0.0]
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                total, largest = tree_rss(proc.pid)
                peaks[0], peaks[1] = max(peaks[0], total), max(peaks[1], largest)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        thread.join()
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(map(str, command))} failed; see {log}")
    return {"seconds": seconds, "peak_mb": peaks[0], "largest_mb": peaks[1],
            "cpu": usage.ru_utime + usage.ru_stime}


def run_all(args, work):
    """Every measurement, in one run; returns {name: result}."""
    py = sys.executable
    pics = copy_pictures(args.pictures, work / "pictures", args.count)
    n = len(pics)
    run = args.run
    if run is None:
        run = work / "run"
        subprocess.run([py, "-c", MAKE_RUN, str(run), str(ROOT)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([py, str(ROOT / "export.py"), "--run", str(run), "--format", "onnx", "--out",
                    str(work / "onnx")], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # the same network for onnxruntime
    old = work / "old"
    old.mkdir()
    archive = subprocess.run(["git", "archive", OLD_COMMIT], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    results = {"pictures": n, "run": str(args.run or "untrained resnet, 100 px, 38 tags")}
    results["limit"] = tagging_limit.study(str(work / "pictures"), str(run), str(work / "onnx"),
                                           machine.cores(), args.rounds)
    if args.limit_only:
        return results
    decode = subprocess.run([py, "-c", DECODE, str(work / "pictures")], check=True,
                            capture_output=True, text=True).stdout.split()
    results["pillow"] = {"seconds": float(decode[2]), "decoded": int(decode[1]),
                         "cpu": float(decode[3])}
    network = subprocess.run([py, "-c", NETWORK, str(run), str(ROOT), str(min(n, 1024))],
                             check=True, capture_output=True, text=True).stdout.split()
    results["network"] = {"seconds": float(network[0]), "images": min(n, 1024)}
    one = work / "one"
    one.mkdir()
    shutil.copy(pics[0], one / pics[0].name)
    commands = {
        "startup": ([py, str(ROOT / "tag.py"), str(one), "--run", str(run), "--quiet"], ROOT),
        "tag": ([py, str(ROOT / "tag.py"), str(work / "pictures"), "--run", str(run),
                 "--quiet"], ROOT),
        "tag_full": ([py, str(ROOT / "tag.py"), str(work / "pictures"), "--run", str(run),
                      "--quiet", "--overwrite", "--full-decode"], ROOT),
        "startup_onnx": ([py, str(ROOT / "tag.py"), str(one), "--run", str(work / "onnx"),
                          "--quiet", "--overwrite"], ROOT),
        "tag_onnx": ([py, str(ROOT / "tag.py"), str(work / "pictures"), "--run",
                      str(work / "onnx"), "--quiet", "--overwrite"], ROOT),
        "draw": ([py, str(ROOT / "draw.py"), str(work / "pictures"), "--run", str(run),
                  "--out", str(work / "drawn"), "--caption", "--quiet"], ROOT),
        "old_draw": ([py, str(old / "draw.py"), str(work / "pictures"), "--run", str(run),
                      "--out", str(work / "old_drawn"), "--caption"], old),
    }
    if args.skip_old:
        del commands["old_draw"]
    for name, (command, cwd) in commands.items():
        print(f"[{time.strftime('%H:%M:%S')}] {name} on {n:,} pictures ...", flush=True)
        results[name] = measure(command, cwd, work / f"{name}.log")
        print(f"  {n / results[name]['seconds']:.1f} pictures/s, peak "
              f"{results[name]['peak_mb']:,.0f} MB", flush=True)
    return results


def report(r, others):
    """The section's Markdown: the table, the goals, and what was measured."""
    n, pillow = r["pictures"], r["pictures"] / r["pillow"]["seconds"]
    rate = {k: n / r[k]["seconds"] for k in ("tag", "tag_full", "tag_onnx", "draw", "old_draw")
            if k in r}
    old = rate.get("old_draw")

    def row(name, what, goal="-", met=None):
        m = r[name]
        return (f"| {what} | {m['seconds']:.1f} s | {m['cpu']:.1f} s | {rate[name]:.1f} | "
                f"{m['peak_mb']:,.0f} MB ({m['largest_mb']:,.0f} MB largest process) | {goal} | "
                f"{ {True: 'met', False: '**not met**', None: '-'}[met]} |")

    net = r["network"]
    lines = ["| command | wall time | CPU time | pictures/s | peak memory (process tree) | goal "
             "| met? |", "|---|---|---|---|---|---|---|",
             f"| Pillow alone: `Image.open(f).load()` per file, one process (loop only) | "
             f"{r['pillow']['seconds']:.1f} s | {r['pillow']['cpu']:.1f} s (with start-up) | "
             f"{pillow:.1f} | - | - | - |",
             f"| the network alone: `Run.predict` on {net['images']:,} random 100 px inputs in "
             f"batches of 64, one process (loop only) | {net['seconds']:.1f} s | - | "
             f"{net['images'] / net['seconds']:.1f} | - | - | - |",
             f"| start-up: `tag.py` on a folder of one picture | {r['startup']['seconds']:.1f} s | "
             f"{r['startup']['cpu']:.1f} s | - | {r['startup']['peak_mb']:,.0f} MB | - | - |"]
    lines.append(row("tag", "`tag.py FOLDER --run RUN --quiet`",
                     f">= 1.5x Pillow ({1.5 * pillow:.0f}/s): {rate['tag'] / pillow:.2f}x"
                     + (f"; >= 20x old draw.py: {rate['tag'] / old:.1f}x" if old else ""),
                     rate["tag"] >= 1.5 * pillow and (old is None or rate["tag"] >= 20 * old)))
    lines.append(row("tag_full", "`tag.py ... --full-decode` (whole pictures, as training)"))
    lines.append(f"| start-up: `tag.py` on a folder of one picture, ONNX export (no TensorFlow) | "
                 f"{r['startup_onnx']['seconds']:.1f} s | {r['startup_onnx']['cpu']:.1f} s | - | "
                 f"{r['startup_onnx']['peak_mb']:,.0f} MB | - | - |")
    lines.append(row("tag_onnx", "`tag.py FOLDER --run RUN/export/onnx --quiet` (onnxruntime)",
                     f">= 1.5x Pillow: {rate['tag_onnx'] / pillow:.2f}x"
                     + (f"; >= 20x old draw.py: {rate['tag_onnx'] / old:.1f}x" if old else ""),
                     rate["tag_onnx"] >= 1.5 * pillow
                     and (old is None or rate["tag_onnx"] >= 20 * old)))
    if old:
        lines.append(row("draw", "`draw.py FOLDER --run RUN --out OUT --caption --quiet`",
                         f">= 3x old draw.py: {rate['draw'] / old:.1f}x; peak below old's",
                         rate["draw"] >= 3 * old
                         and r["draw"]["peak_mb"] < r["old_draw"]["peak_mb"]))
        lines.append(row("old_draw", f"draw.py of commit {OLD_COMMIT} `--caption`"))
    else:
        lines.append(row("draw", "`draw.py FOLDER --run RUN --out OUT --caption --quiet`"))
    notes = [
        "",
        f"{n:,} pictures: the real pictures copied under new names (JPEG and PNG, "
        "0.01 to 33 Mpx, median 0.44 Mpx). Run: " + r["run"] + ". Wall time is the whole "
        "command from start to exit: Python and TensorFlow start-up, model loading, decoding, "
        "the network, writing. Peak memory: the largest sum of resident memory over the "
        "command's process tree (the main process and its decoding workers), sampled every "
        "50 ms; workers share some pages, so the sum overstates a little. CPU time: user + "
        "system of the command and every process it waited for (its workers).",
        f"Other processes kept {others:.1f} of the {machine.cores()} cores busy on average "
        "during this run. Timings on a machine shared with other jobs are noisy; "
        "rerun on an idle machine for the reference numbers.",
    ]
    return lines + notes


def _run_name(run, given):
    """The run as the results file names it: no folder of this machine."""
    return f"the run `{Path(run).name}` given with --run" if given else run


def main(argv=None):
    args = parse_args(argv)
    meter = machine.LoadMeter()
    with tempfile.TemporaryDirectory(prefix="bench-tagging-") as tmp:
        results = run_all(args, Path(tmp))
    described = machine.describe()
    limit = [f"# tag.py against this machine's limit (bench/tagging.py)", "",
             f"Run: {_run_name(results['run'], args.run)}, and its ONNX export. "
             f"`python bench/tagging.py --pictures "
             f"FOLDER --limit-only [--run RUN]` on {time.strftime('%Y-%m-%d %H:%M')}.", "",
             *tagging_limit.report(results["limit"]), "", *(f"- {d}" for d in described)]
    args.limit_out.write_text("\n".join(limit) + "\n")
    print("\n".join(limit) + f"\nwrote {args.limit_out}")
    if args.limit_only:
        return results
    lines = [f"- {described[0]}", f"- {described[-1]}", "", *report(results, meter.others())]
    replace_section(args.out, "Tagging real pictures (bench/tagging.py)", lines)
    print("\n".join(lines) + f"\nwrote the tagging section of {args.out}")
    return results


if __name__ == "__main__":
    main()
