"""Benchmark every stage against the original student project's way, in one run.

Generates its own inputs under --work, runs each stage's measurement in its own process
(the project's scripts through their main(), the original's way from bench/original.py),
and prints a table that it also writes, with the machine's description and peak memory,
to bench/results.md.

Examples:
  python bench/run.py                               # the full benchmark, 5-10 min on 2 cores
  python bench/run.py --quick                       # tiny inputs: checks that it all runs
  make bench
"""
import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tagger package and bench/, without an install step

from bench import findings, inputs, machine
from bench.measure import Bench, ChildFailed
from bench.report import Row, markdown, table
from bench.sections import kept_sections
from bench.stages_data import check_stage, deal_stage, download_stage, set_dic_stage
from bench.stages_model import inference_stage, train_stage
from tagger.core.cli import positive_int

FULL = {"download_original": 150, "download_project": 2000, "csv_rows": 2_000_000,
        "csv_rows_small": 500_000, "images": 3000, "train_images": 800,
        "infer_batched": 768, "infer_single": 100}
QUICK = {"download_original": 10, "download_project": 100, "csv_rows": 20_000,
         "csv_rows_small": 5_000, "images": 120, "train_images": 64,
         "infer_batched": 64, "infer_single": 8}
MARKER = ".bench-work"  # only a folder holding this file is ever emptied


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work",
                        help="folder for generated inputs and outputs (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: bench/results.md, or WORK/results.md "
                             "with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs and one repeat: a check that everything runs")
    parser.add_argument("--repeats", type=positive_int, default=None,
                        help="runs per timing, the median is reported (default: 3, 1 with --quick)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated inputs and outputs in --work afterwards")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.out = args.out or (args.work / "results.md" if args.quick else ROOT / "bench" / "results.md")
    return args


def prepare_work(work):
    """Empty the work folder, refusing one the benchmark did not create."""
    if work.exists() and any(work.iterdir()) and not (work / MARKER).exists():
        sys.exit(f"error: {work} is not empty and was not made by the benchmark; "
                 f"pass another --work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / MARKER).write_text("made by bench/run.py; emptied on every run\n")


def make_inputs(b):
    """Thumbnails, the deal CSV and dictionary, and the big Safebooru-like CSVs."""
    n = max(b.sizes["images"], b.sizes["infer_batched"])
    thumbnails = inputs.thumbnails(b.work / "thumbnails", n, workers=b.cores)
    dic = b.work / "dic.txt"
    shutil.copy(ROOT / "dic.txt", dic)  # the original project's 38 tags
    dic_tags = dic.read_text().split()
    vocabulary = inputs.tag_vocabulary(5000)[len(inputs.HEAD_TAGS):]
    labels = inputs.dictionary_tags(b.sizes["images"], dic_tags, vocabulary=vocabulary)
    deal_csv = b.work / "deal.csv"
    inputs.write_posts_csv(deal_csv, labels, lambda i: f"http://127.0.0.1/thumbnails/{i}.jpg",
                           labels.__getitem__)
    big, small = b.work / "all_data.csv", b.work / "all_data_small.csv"
    inputs.write_safebooru_csv(big, b.sizes["csv_rows"])
    inputs.copy_head(big, small, b.sizes["csv_rows_small"])
    return {"thumbnails": thumbnails, "dic": dic, "deal_csv": deal_csv, "big": big,
            "small": small}


def stages(files):
    """(name, function of the bench and what earlier stages found) in running order."""
    return [
        ("download", lambda b, got: download_stage(b, files["thumbnails"])),
        ("set_dic", lambda b, got: set_dic_stage(b, files["big"], files["small"])),
        ("deal", lambda b, got: deal_stage(b, files["thumbnails"], files["deal_csv"],
                                           files["dic"])),
        ("check", lambda b, got: check_stage(b, got["deal"]["dealt"])),
        ("train", lambda b, got: train_stage(b, got["deal"]["dealt"], files["dic"])),
        ("inference", lambda b, got: inference_stage(b, files["thumbnails"])),
    ]


def run_stages(b, files):
    """Run every stage, carrying on past one that fails; return rows, memory, details."""
    rows, memory, details = [], [], {}
    for name, stage in stages(files):
        meter, start = machine.LoadMeter(), time.monotonic()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        try:
            got_rows, got_memory, detail = stage(b, details)
        except (ChildFailed, KeyError) as exc:
            print(f"  {name} failed: {exc}", file=sys.stderr)
            got_rows, got_memory, detail = [Row(name, "failed", "failed", "-")], [], {}
        detail.update(seconds=time.monotonic() - start, others=meter.others())
        details[name] = detail
        rows += got_rows
        memory += got_memory
        for line in table(got_rows)[2:]:
            print("  " + line, flush=True)
    return rows, memory, details


def main(argv=None):
    args = parse_args(argv)
    started, meter = time.monotonic(), machine.LoadMeter()
    prepare_work(args.work)
    b = Bench(args.work, args.repeats, QUICK if args.quick else FULL, machine.cores())
    print(f"generating inputs in {args.work} ...", flush=True)
    files = make_inputs(b)
    generated = time.monotonic() - started
    rows, memory, details = run_stages(b, files)
    details["inputs"] = {"seconds": generated}
    footer = findings.footer(args, b, details, time.monotonic() - started, meter.others())
    text = markdown("Benchmark: every stage against the original's way", machine.describe(),
                    rows, memory, findings.notes(b, details), findings.missed(rows, b, details),
                    footer)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + kept_sections(args.out))  # bench/tagging.py's section stays
    print("\n" + "\n".join(table(rows)) + f"\n\n{footer[-1]}\nwrote {args.out}")
    if not args.keep:
        for path in args.work.iterdir():
            if path.name in (MARKER, "logs", args.out.name):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return rows


if __name__ == "__main__":
    main()
