"""serve.py under load: requests/s and p50/p99 latency at 1, 8 and 32 concurrent clients
(POST /tagger/v1/interrogate, one picture each), beside tag.py's pictures/s on the same
pictures (the whole command, TensorFlow's start-up included, and the rate after it).

Starts serve.py on a free loopback port; every request goes to 127.0.0.1 only, a bounded
number of them. Prints a Markdown table with the machine's load average before and after.

Examples:
  python bench/serve.py --run runs/tagger --pictures data/images --count 200
  python bench/serve.py --run runs/tagger --pictures pics/ --clients 1 8 32 --requests 300
"""
import argparse
import base64
import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="the tagger to serve")
    parser.add_argument("--pictures", type=Path, required=True, help="a folder of pictures")
    parser.add_argument("--count", type=int, default=200,
                        help="pictures taken from the folder (default: %(default)s)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32],
                        help="concurrent clients, one level each (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=300,
                        help="requests per level (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.35, help="(default: %(default)s)")
    return parser.parse_args(argv)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_tag_py(run, pictures, threshold):
    """(seconds for the whole tag.py command, its stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        for path in pictures:
            shutil.copy(path, Path(tmp) / path.name)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, str(ROOT / "tag.py"), tmp, "--run", str(run),
                              "--threshold", str(threshold), "--quiet"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return time.perf_counter() - start, out.stderr


def serve(run):
    """A serve.py process on a free port, once it answers /healthz; (process, url)."""
    import requests

    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--run", str(run),
                             "--port", url.rsplit(":", 1)[1], "--max-queue", "1024"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if requests.get(url + "/healthz", timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve.py did not start within 2 minutes")


def load(url, bodies, clients, total, threshold):
    """(requests/s, p50 s, p99 s, failures) of `total` requests from `clients` threads."""
    import requests

    sessions = {}

    def one(i):
        session = sessions.setdefault(i % clients, requests.Session())
        body = {"image": bodies[i % len(bodies)], "threshold": threshold}
        start = time.perf_counter()
        ok = session.post(url + "/tagger/v1/interrogate", json=body, timeout=120).ok
        return time.perf_counter() - start, ok

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - start
    latencies = sorted(t for t, _ in results)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return total / elapsed, pick(0.50), pick(0.99), sum(not ok for _, ok in results)


def main(argv=None):
    args = parse_args(argv)
    pictures = sorted(p for p in args.pictures.iterdir() if p.suffix.lower() in SUFFIXES)
    pictures = pictures[:args.count]
    if not pictures:
        raise SystemExit(f"{args.pictures}: no pictures")
    before = os.getloadavg()
    whole, _ = time_tag_py(args.run, pictures, args.threshold)
    one, _ = time_tag_py(args.run, pictures[:1], args.threshold)  # mostly start-up
    bodies = [base64.b64encode(p.read_bytes()).decode() for p in pictures]
    proc, url = serve(args.run)
    try:
        load(url, bodies, 4, min(40, args.requests), args.threshold)  # warm-up
        rows = [(c, *load(url, bodies, c, args.requests, args.threshold)) for c in args.clients]
    finally:
        proc.terminate()
        proc.wait(60)
    after = os.getloadavg()
    print(f"{len(pictures)} pictures; load average before {before[0]:.2f}, after {after[0]:.2f} "
          f"(1 min), {os.cpu_count()} cores")
    print(f"\ntag.py, the whole command: {whole:.1f} s, {len(pictures) / whole:.1f} pictures/s "
          f"(TensorFlow's start-up included); after start-up about "
          f"{(len(pictures) - 1) / max(whole - one, 1e-9):.1f} pictures/s (the command on "
          f"{len(pictures)} pictures less the command on 1: {one:.1f} s)\n")
    print("| clients | requests/s | p50 ms | p99 ms | failed |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for clients, rate, p50, p99, failed in rows:
        print(f"| {clients} | {rate:.1f} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | {failed} |")


if __name__ == "__main__":
    main()
