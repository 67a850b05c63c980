"""The scale bench: every stage at 50,000, 100,000 and 200,000 images, time and peak memory.

Generates a Safebooru-shaped all_data.csv of --csv-rows rows (3,000,000) whose preview URLs
point at a thumbnail server on 127.0.0.1 (no added latency) holding a distinct 150 px
thumbnail for each of the first max(--sizes) posts, then runs each stage in its own process
at each size: download.py, set_dic.py (on that many rows, and once on the whole CSV),
deal.py (64 px), check.py (no cap), train.py bounded (its setup, then --steps steps of its
training loop from its real pipeline), test.py (the run's 10% test split) and draw.py (one
picture in a hundred). Then train.py's input pipeline with the cache off against the
in-memory ceiling and TFRecord shards, at the largest size, and 1 against 2 workers.

Examples:
  python bench/scale.py                                        # the full run (~45 min here)
  python bench/scale.py --sizes 2000,4000,8000 --csv-rows 100000 --out /tmp/scale.md   # short
  nice python bench/scale.py --parts stages --stages deal,check --csv-rows 200000   # flat memory
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tagger package and bench/, without an install step

from bench import inputs, scale_report  # noqa: E402
from bench.measure import run_child  # noqa: E402
from bench.scale_inputs import distinct_thumbnails  # noqa: E402
from tagger.train.distributed import free_ports, local_tf_configs  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50000,100000,200000",
                        help="numbers of images, comma-separated (default: %(default)s)")
    parser.add_argument("--csv-rows", type=int, default=3_000_000,
                        help="rows of the generated CSV (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30,
                        help="timed training steps of 128 images (default: %(default)s)")
    parser.add_argument("--parts", default="stages,input,workers",
                        help="what to run, comma-separated (default: %(default)s)")
    parser.add_argument("--stages", default=",".join(scale_report.STAGES),
                        help="the stages to measure at each size, comma-separated; without "
                             "download, the thumbnails are linked into the data folder as "
                             "download.py would leave them (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "scale",
                        help="generated inputs and outputs; reused by a rerun (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "scale_results.md",
                        help="the results table (default: %(default)s)")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    args.parts = set(args.parts.split(","))
    args.stages = set(args.stages.split(","))
    return args


def make_inputs(work, sizes, csv_rows):
    """The thumbnails of the first max(sizes) posts, and the CSV pointing at 127.0.0.1:PORT;
    returns (thumbnail folder, CSV, PORT). Both are reused by a rerun with the same rows."""
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    thumbs = distinct_thumbnails(work / "thumbnails", inputs.post_ids(0, max(sizes)))
    csv_path, stamp = work / "all_data.csv", work / "all_data.json"
    made = json.loads(stamp.read_text()) if stamp.exists() and csv_path.exists() else {}
    if made.get("rows") != csv_rows:
        made = {"rows": csv_rows, "port": free_ports(1)[0]}
        inputs.write_safebooru_csv(csv_path, csv_rows,
                                   preview_base=f"http://127.0.0.1:{made['port']}")
        stamp.write_text(json.dumps(made))
    print(f"inputs ready in {time.perf_counter() - start:.0f} s", flush=True)
    return thumbs, csv_path, made["port"]


def server(folder, port):
    """bench/server.py serving FOLDER/<id>.jpg on 127.0.0.1:port, in its own process."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", str(folder), "--files",
                             "--latency", "0", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    return proc


def measure(results, key, log_dir, module, function, payload, out):
    """One stage in a fresh process; its seconds, peak MB and result go into results[key]."""
    print(f"{key} ...", end=" ", flush=True)
    load = os.getloadavg()[0]
    sample = run_child(module, function, payload, log_dir / f"{key.replace(' ', '_')}.log",
                       timeout=7200)
    load = max(load, os.getloadavg()[0])  # the 1-minute load average, before or after
    results[key] = {"seconds": sample.seconds, "peak_mb": sample.peak_mb,
                    "cpu_seconds": sample.cpu_seconds, "load": load, **sample.result}
    print(f"{sample.seconds:.1f} s, {sample.peak_mb:.0f} MB, load {load:.1f}", flush=True)
    (log_dir.parent / "results.json").write_text(json.dumps(results, indent=1))


def stages(args, results, csv_path, n):
    """Every stage at n images, in a fresh data folder."""
    data, run = args.work / f"data_{n}", args.work / f"runs_{n}" / "r"
    d, logs = ["--data-dir", str(data)], args.work / "logs"
    subprocess.run(["rm", "-rf", str(data), str(run.parent)], check=True)
    data.mkdir(parents=True)
    if "download" in args.stages:
        measure(results, f"download {n}", logs, "download", "main",
                [*d, "--csv", str(csv_path), "--limit", str(n)], args.out)
    else:
        link_downloaded(args.work / "thumbnails", data, n)
    measure(results, f"set_dic {n}", logs, "set_dic", "main",
            [*d, "--csv", str(csv_path), "--max-tags", "38"], args.out)
    if "deal" in args.stages:
        measure(results, f"deal {n}", logs, "deal", "main",
                [*d, "--csv", str(csv_path), "--image-size", "64"], args.out)
    if "check" in args.stages:
        measure(results, f"check {n}", logs, "check", "main", d, args.out)
    if not args.stages & {"train", "test", "draw"}:
        return
    measure(results, f"train {n}", logs, "bench.scale_work", "train_run",
            {"data_dir": str(data), "run": str(run), "steps": args.steps}, args.out)
    measure(results, f"test {n}", logs, "test", "main",
            ["--run", str(run), *d, "--quiet", "--min-common", "1"], args.out)
    pictures = data / "draw_inputs"
    pictures.mkdir()
    for path in sorted((data / "resized").iterdir())[::100]:
        os.symlink(path, pictures / path.name)
    measure(results, f"draw {n}", logs, "draw", "main",
            [str(pictures), "--run", str(run), "--out", str(data / "drawn")], args.out)


def link_downloaded(thumbnails, data, n):
    """What download.py --limit n leaves, without the server: the first n posts' thumbnails
    linked into DATA_DIR/images, and its record of the row window."""
    images = data / "images"
    images.mkdir()
    for post_id in inputs.post_ids(0, n):
        os.link(thumbnails / f"{post_id}.jpg", images / f"{post_id}.jpg")
    (data / "download_args.json").write_text(json.dumps({"limit": n, "out": "images"}))


def input_part(args, results, n):
    """Training from files (cache off), from TFRecord shards, and from memory, at n images."""
    folder, logs = args.work / f"data_{n}" / "resized", args.work / "logs"
    records = str(args.work / f"records_{n}")
    measure(results, f"pack {n}", logs, "bench.scale_work", "pack",
            {"image_dir": str(folder), "n_images": n, "folder": records}, args.out)
    files = results[f"pack {n}"]["files"]
    for k in range(2):  # interleaved, so drift on a shared machine hits each alike
        for source in ("files", "tfrecord", "memory"):
            measure(results, f"rate {source} {k}", logs, "bench.scale_work", "train_rate",
                    {"image_dir": str(folder), "n_images": n, "source": source,
                     "steps": args.steps, "records": files}, args.out)
    for source in ("files", "tfrecord", "memory"):
        measure(results, f"input {source}", logs, "bench.scale_work", "input_rate",
                {"image_dir": str(folder), "n_images": n if source != "memory" else 4096,
                 "source": source, "records": files}, args.out)


def workers_part(args, results, n):
    """Images per second of one worker (batch 128) and of two (64 each: the same global batch)."""
    folder, logs = args.work / f"data_{n}" / "resized", args.work / "logs"
    payload = {"image_dir": str(folder), "n_images": n, "source": "files", "steps": args.steps}
    for k in range(2):
        measure(results, f"workers 1 {k}", logs, "bench.scale_work", "train_rate",
                {**payload, "batch": 128}, args.out)
        found = {}

        def worker(i, config):
            found[i] = run_child("bench.scale_work", "train_rate", {**payload, "batch": 64},
                                 logs / f"workers_2_{k}_{i}.log", timeout=3600,
                                 env={"TF_CONFIG": config})

        threads = [threading.Thread(target=worker, args=(i, c))
                   for i, c in enumerate(local_tf_configs(2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        chief = found[0]
        results[f"workers 2 {k}"] = {"seconds": chief.seconds, "peak_mb": chief.peak_mb,
                                     **chief.result, "cpu_ms_per_image": sum(
                                         f.result["cpu_ms_per_image"] for f in found.values()) / 2}
        print(f"workers 2 {k}: {chief.result['images_per_second']:.0f} images/s", flush=True)
        (logs.parent / "results.json").write_text(json.dumps(results, indent=1))


def main(argv=None):
    args = parse_args(argv)
    saved = args.work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    thumbs, csv_path, port = make_inputs(args.work, args.sizes, args.csv_rows)
    if "stages" in args.parts:
        proc = server(thumbs, port) if "download" in args.stages else None
        try:
            for n in args.sizes:
                stages(args, results, csv_path, n)
                scale_report.write(args.out, results, args)
        finally:
            if proc:
                proc.terminate()
                proc.wait()
    if "stages" in args.parts and "set_dic" in args.stages:
        measure(results, f"set_dic all {args.csv_rows}", args.work / "logs", "set_dic", "main",
                ["--data-dir", str(args.work / "dic_all"), "--csv", str(csv_path), "--max-tags", "38",
                 "--limit", "0"],
                args.out)
    biggest = max(args.sizes)
    if "input" in args.parts:
        input_part(args, results, biggest)
    if "workers" in args.parts:
        workers_part(args, results, biggest)
    scale_report.write(args.out, results, args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
