"""A GPU run in one script of at most 8 minutes: train.py at 100, 224 and 448 px on generated
thumbnails (mixed precision: train.py's `--mixed-precision auto` turns it on for GPUs), whether
the input pipeline keeps the GPU fed, then tag.py on the Keras run and on its ONNX export
through onnxruntime's CUDA provider.

Each size gets its own data folder: the generated thumbnails served on 127.0.0.1, then
download.py, set_dic.py, deal.py and check.py, as `make demo` runs them, and train.py for
--epochs. Its images/s are the best epoch's training steps (history.csv); the GPU's busy share
is the mean of `nvidia-smi --query-gpu=utilization.gpu` samples (every 200 ms) over the
second half of train.py's run, after its start-up. Every stage runs in this process, through
its script's main(), as the tests run them. Without a GPU it says so and measures the CPU.

Examples:
  python bench/gpu.py                                # on a GPU machine: bench/gpu_results.md
  python bench/gpu.py --short --out /tmp/gpu.md      # tiny sizes, a few steps: anywhere
"""
import argparse
import contextlib
import csv
import importlib
import io
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402  (after the path above)

FULL = dict(sizes=(100, 224, 448), posts=3000, epochs=3, batch=128, pictures=2000)
SHORT = dict(sizes=(32, 48), posts=120, epochs=2, batch=16, pictures=24)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true",
                        help=f"tiny sizes and a few steps, to check the script anywhere "
                             f"({SHORT['sizes']} px, {SHORT['posts']} thumbnails) "
                             f"(default: %(default)s)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "gpu",
                        help="folder for the data, runs and pictures; replaced "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "gpu_results.md",
                        help="results file (default: %(default)s)")
    return parser.parse_args(argv)


def gpu_names():
    """The GPUs nvidia-smi lists ([] without one, or without nvidia-smi)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split(" (UUID")[0] for line in listing.stdout.splitlines()
            if line.startswith("GPU ")]


class GpuSampler:
    """`nvidia-smi --query-gpu=utilization.gpu --format=csv -lms 200` in the background: the
    busy percentages of the first GPU, with the time each was read."""

    def __init__(self):
        self.samples, self._process = [], None
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "200"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self._process.stdout:
            first = line.split(",")[0].strip()
            if first.isdigit():
                self.samples.append((time.monotonic(), int(first)))

    def busy_share(self, start, end):
        """Mean busy percentage over the second half of [start, end], or None."""
        middle = (start + end) / 2
        values = [v for t, v in self.samples if middle <= t <= end]
        return sum(values) / len(values) if values else None

    def close(self):
        if self._process:
            self._process.terminate()
            self._process.wait(timeout=10)


def script(argv):
    """Run one of the project's scripts through its main(argv), its output kept back."""
    module = importlib.import_module(Path(argv[0]).stem)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            module.main([str(a) for a in argv[1:]])
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"{' '.join(map(str, argv))} failed ({exc.code}): "
                                   f"{out.getvalue()[-500:]}") from None
    return out.getvalue()


def make_data(work, settings):
    """Generate the thumbnails once; for each size a data folder made by the first four
    stages. Returns ({size: the folder the stage commands use}, the thumbnails' folder)."""
    from tagger.demo.pipeline import LocalServer, generate, stage_commands

    folders = {}
    with LocalServer(work / "server") as server:
        generate(work, settings["posts"], 0, server.url, size=128)  # work/server, work/data
        csv_path = work / "data" / "all_data.csv"
        for size in settings["sizes"]:
            out = work / f"{size}px"
            (out / "data").mkdir(parents=True)
            shutil.copy(csv_path, out / "data" / "all_data.csv")
            for argv in stage_commands(out, [], size, max(1, settings["posts"] // 50))[:4]:
                script([*argv, "--quiet"])
            folders[size] = out
    return folders, work / "server" / "thumbnails"


def train(out, size, settings, sampler):
    """train.py at `size` for the settings' epochs: a row of the table, and the run folder."""
    from tagger.demo.pipeline import stage_commands

    flags = ["--epochs", settings["epochs"], "--batch-size", settings["batch"], "--quiet"]
    argv = stage_commands(out, flags, size, 1)[4]
    start = time.monotonic()
    printed = script(argv)
    end = time.monotonic()
    run = Path(argv[argv.index("--run") + 1])
    with open(run / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    rate = max(float(r["images_per_second"]) for r in history)
    busy = sampler.busy_share(start, end)
    where = next((line.split(", on ", 1)[1] for line in printed.splitlines()
                  if line.startswith("training ") and ", on " in line), "?")
    return dict(what=f"train.py {size} px", rate=f"{rate:,.0f} images/s",
                busy="no GPU" if busy is None else f"{busy:.0f}%",
                note=f"{where}; {end - start:.0f} s for {len(history)} epochs"), run


def tag_offers_device():
    """Whether this tag.py has --device (the flag that picks the GPU)."""
    import tag

    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        tag.parse_args(["--help"])
    return "--device" in out.getvalue()


def tag_pictures(source, folder, n):
    """A fresh folder of `n` of the generated thumbnails (tag.py skips captioned ones)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in sorted(source.glob("*.jpg"))[:n]:
        shutil.copy(path, folder / path.name)
    return folder


def tag_row(what, tagger, pictures, device, sampler):
    """Time tag.py over `pictures` with `tagger` (a run or an export folder), start-up included."""
    argv = ["tag.py", pictures, "--run", tagger, "--quiet"] + (["--device", device] if device
                                                              else [])
    start = time.monotonic()
    script(argv)
    end = time.monotonic()
    n = len(list(pictures.glob("*.jpg")))
    busy = sampler.busy_share(start, end)
    return dict(what=what, rate=f"{n / (end - start):,.0f} pictures/s",
                busy="no GPU" if busy is None else f"{busy:.0f}%",
                note=f"{n:,} pictures in {end - start:.1f} s, start-up included" +
                     ("" if device else "; this tag.py has no --device: its default device"))


def onnx_cuda_row(run, pictures, offers_device, has_gpu, sampler):
    """tag.py on the run's ONNX export with --device cuda, or why it cannot run here."""
    if not offers_device:
        return dict(what="tag.py, onnxruntime CUDA", rate="not available", busy="",
                    note="this tag.py has no --device flag")
    import onnxruntime

    if not has_gpu or "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return dict(what="tag.py, onnxruntime CUDA", rate="not available", busy="",
                    note="no GPU" if not has_gpu else
                    "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)")
    script(["export.py", "--run", run, "--format", "onnx", "--quiet"])
    return tag_row("tag.py, onnxruntime CUDA", run / "export" / "onnx", pictures, "cuda", sampler)


def report(rows, gpus, settings, short, seconds):
    """The results file's text."""
    table = ["| what | rate | GPU busy | note |", "|---|---|---|---|"]
    table += [f"| {r['what']} | {r['rate']} | {r['busy']} | {r['note']} |" for r in rows]
    return "\n".join([
        "# A GPU run", "",
        f"Made by `python bench/gpu.py{' --short' if short else ''}` in {seconds / 60:.1f} min: "
        f"{settings['posts']:,} generated thumbnails, train.py for {settings['epochs']} epochs "
        f"in batches of {settings['batch']} (images/s: the best epoch's training steps), "
        f"tag.py on {settings['pictures']:,} of them.", "",
        f"GPU: {', '.join(gpus) if gpus else 'no GPU (nvidia-smi found none): the rows are the CPU'}",
        "", *table, "", *[f"- {line}" for line in machine.describe()], ""])


def main(argv=None):
    args = parse_args(argv)
    settings = SHORT if args.short else FULL
    t0 = time.monotonic()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    gpus, sampler = gpu_names(), GpuSampler()
    try:
        folders, server = make_data(args.work, settings)
        rows, runs = [], {}
        for size, out in folders.items():
            row, runs[size] = train(out, size, settings, sampler)
            rows.append(row)
            print(" | ".join(row.values()), flush=True)
        run = runs[settings["sizes"][1 if len(runs) > 2 else 0]]
        pictures = tag_pictures(server, args.work / "pictures", settings["pictures"])
        offers_device = tag_offers_device()
        rows.append(tag_row("tag.py, Keras" + (" on the GPU" if gpus else ""), run, pictures,
                            "cuda" if gpus and offers_device else None, sampler))
        rows.append(onnx_cuda_row(run, tag_pictures(server, args.work / "pictures_onnx",
                                                    settings["pictures"]),
                                  offers_device, bool(gpus), sampler))
    finally:
        sampler.close()
    text = report(rows, gpus, settings, args.short, time.monotonic() - t0)
    args.out.write_text(text)
    print(text, flush=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
