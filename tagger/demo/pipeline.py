"""The demo: a generated Safebooru-like dataset served on 127.0.0.1, run through all stages."""
import functools
import os
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ..core.folders import DataFolder
from .synth import draw_post, write_dataset

ROOT = Path(__file__).resolve().parents[2]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class LocalServer:
    """A static file server for `folder` on 127.0.0.1 (a free port), in a background thread."""

    def __init__(self, folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def stage_commands(out, train_flags, image_size, min_count):
    """The seven commands a user would type, as argument lists (script first)."""
    data, run = out / "data", out / "runs" / "demo"
    common = ["--data-dir", str(data)]
    return [
        ["download.py", *common, "--limit", "0"],
        ["set_dic.py", *common, "--min-count", str(min_count)],
        ["deal.py", *common, "--image-size", str(image_size)],  # download.py's rows: all
        ["check.py", *common],
        ["train.py", *common, "--run", str(run), *train_flags],
        ["test.py", "--run", str(run), "--quiet"],
        ["draw.py", str(out / "fresh"), "--run", str(run), "--out", str(out / "drawn"),
         "--tuned", "--caption"],
    ]


def run_stage(argv, log):
    """Run one script as a user would, echoing the command; return seconds taken."""
    shown = " ".join(["python", *argv])
    print(f"\n$ {shown}", flush=True)
    t0 = time.time()
    result = subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:]], cwd=ROOT)
    seconds = time.time() - t0
    log.append((argv[0], seconds))
    if result.returncode:
        raise SystemExit(f"demo stopped: `{shown}` failed with exit code {result.returncode}")
    return seconds


def fresh_character(folder, seed, size=256):
    """Draw one character the model never saw; return its true tags."""
    folder.mkdir(parents=True, exist_ok=True)
    image, tags = draw_post(np.random.default_rng([seed, 999_999]), size)
    image.save(folder / "fresh_character.png")
    return tags


def generate(out, n, seed, base_url, size):
    """Write the thumbnails for the server and the CSV where a user keeps theirs."""
    server_dir = out / "server"
    workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)  # the same posts, drawn on every core
    csv_path = write_dataset(server_dir, n, seed=seed, base_url=base_url, size=size,
                             workers=workers)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    csv_path.replace(DataFolder(data).csv)
    return server_dir
