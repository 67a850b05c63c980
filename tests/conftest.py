"""Shared fixtures: a real HTTP server on 127.0.0.1 with scripted faults, and data makers."""
import csv
import io
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripts and the tagger package, without an install step

HEADER = ["id", "created_at", "rating", "score", "sample_url", "sample_width",
          "sample_height", "preview_url", "tags"]


def image_bytes(color=(200, 30, 30), size=(150, 120), fmt="JPEG", mode="RGB", **save):
    """Encode a small image with a pattern (so it is not flat) in the given format."""
    rng = np.random.default_rng(sum(color) + size[0])
    arr = np.clip(np.array(color) + rng.integers(-20, 20, (size[1], size[0], 3)), 0, 255)
    img = Image.fromarray(arr.astype(np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


class Reply:
    """One scripted response: status, headers, body, a delay, or a body cut short."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, truncate=None):
        self.status, self.body, self.delay, self.truncate = status, body, delay, truncate
        self.headers = dict(headers or {})


class Server:
    """Routes path -> list of Replies (used in order, the last one repeats); logs requests."""

    def __init__(self):
        self.routes, self.log, self.lock = {}, [], threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def route(self, path, *replies):
        self.routes[path] = list(replies)
        return f"{self.url}{path}"

    def image(self, path, **kwargs):
        return self.route(path, Reply(200, image_bytes(**kwargs), {"Content-Type": "image/jpeg"}))

    def hits(self, path):
        return [entry for entry in self.log if entry[0] == path]

    def _next_reply(self, path):
        with self.lock:
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, b"not found")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(server):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with server.lock:
                    server.log.append((self.path, time.monotonic(), dict(self.headers)))
                reply = server._next_reply(self.path)
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                body = reply.body[:reply.truncate] if reply.truncate is not None else reply.body
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if reply.truncate is not None:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


class SilentServer:
    """A server that accepts connections and never answers (hung, or behind a black hole)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.connections.append(conn)  # held open, never read, never answered

    def close(self):
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_server():
    srv = SilentServer()
    yield srv
    srv.close()


def write_csv(path, rows, header=HEADER, bom=False):
    """Write rows (dicts with id, url, tags, or raw lists) in the Safebooru layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            if isinstance(row, dict):
                url = row.get("url", "")
                row = [row["id"], "1546300800", "s", "0", url, "150", "120", url, row["tags"]]
            writer.writerow(row)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


def make_downloaded(data_dir, posts, dic):
    """Lay out what download.py and set_dic.py leave: images/<id>.<ext>, the CSV, dic.txt.

    `posts` is a list of (id, tags string, image bytes or None for not downloaded).
    """
    images = data_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    for post_id, _, data in posts:
        if data is not None:
            ext = "png" if data.startswith(b"\x89PNG") else "jpg"
            (images / f"{post_id}.{ext}").write_bytes(data)
    write_csv(data_dir / "all_data.csv",
              [{"id": i, "url": f"http://x/{i}.jpg", "tags": tags} for i, tags, _ in posts])
    (data_dir / "dic.txt").write_text("".join(t + "\n" for t in dic))


SHAPE_TAGS = ("red_background", "blue_background", "circle", "square")


def shape_image(rng, colour, shape, size=48):
    """A learnable picture: a red or blue background with a white circle or square."""
    from PIL import ImageDraw

    img = Image.new("RGB", (size, size), (200, 40, 40) if colour == "red" else (40, 40, 200))
    draw = ImageDraw.Draw(img)
    r = int(rng.integers(size // 4, size // 3 + 1))
    cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
    box = (cx - r, cy - r, cx + r, cy + r)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_shapes_data(data_dir, n=60, image_size=32):
    """A tiny dataset through deal.py: colour and shape tags that a CNN learns in seconds."""
    import deal

    rng = np.random.default_rng(0)
    posts = []
    for i in range(1, n + 1):
        colour, shape = ("red", "blue")[i % 2], ("circle", "square")[(i // 2) % 2]
        posts.append((i, f"{colour}_background {shape}", shape_image(rng, colour, shape)))
    make_downloaded(data_dir, posts, SHAPE_TAGS)
    deal.main(["--data-dir", str(data_dir), "--image-size", str(image_size), "--workers", "1"])
    return data_dir


EXPORT_RUN_SIZE = 30  # does not divide 448: the WD14 resize averages partial pixels


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny trained run and its exports (one conversion each, shared by the tests)."""
    import export
    import train

    root = tmp_path_factory.mktemp("export")
    data = make_shapes_data(root / "data", n=60, image_size=EXPORT_RUN_SIZE)
    run = root / "run"
    train.main(["--data-dir", str(data), "--run", str(run), "--batch-size", "16",
                "--epochs", "3", "--patience", "0"])
    outs = {"wd14_tuned": ["--format", "wd14", "--tuned"],
            "wd14": ["--format", "wd14", "--resize", "area"], "wd14_default": ["--format", "wd14"],
            "onnx": ["--format", "onnx"],
            "litert": ["--format", "litert"], "saved_model": ["--format", "saved_model"]}
    for name, flags in outs.items():
        export.main(["--run", str(run), *flags, "--out", str(root / name)])
    return run, root


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A small run trained on shapes (colour and shape tags), shared by the tests that
    predict: test.py, draw.py and tag.py."""
    import train

    root = tmp_path_factory.mktemp("trained")
    data = make_shapes_data(root / "data", n=160)
    run = root / "runs" / "r"
    train.main(["--data-dir", str(data), "--run", str(run), "--batch-size", "16",
                "--epochs", "15", "--patience", "0"])  # otherwise train.py's default recipe
    return data, run


@pytest.fixture(autouse=True)
def _fresh_notes():
    """An old spelling's note is printed once per process: each test starts as a new one."""
    from tagger.core import cli

    cli._NOTED.clear()
