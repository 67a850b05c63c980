"""A thumbnail server on 127.0.0.1 that waits a fixed latency before every response.

Run by the benchmark as its own process, so its work never shares a GIL with the client:
    python -m bench.server THUMBNAIL_DIR --latency 0.05
It prints its port on the first line of stdout and serves /thumbnails/<id>.jpg, where any
id maps onto one of the files in THUMBNAIL_DIR (so a few thousand files serve any number
of posts), until it is terminated.
"""
import argparse
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: hundreds of clients may connect at once


def make_handler(bodies, latency, folder=None):
    """A keep-alive handler serving `bodies[id % len(bodies)]` after `latency` seconds, or
    FOLDER/<id>.jpg read on each request when `folder` is given (404 if it is not there)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body in two writes meet delayed ACKs: +40 ms

        def do_GET(self):
            time.sleep(latency)
            stem = self.path.rsplit("/", 1)[-1].split(".", 1)[0]
            if not self.path.startswith("/thumbnails/") or not stem.isdigit():
                self.send_error(404)
                return
            if folder is not None:
                try:
                    body = (folder / f"{int(stem)}.jpg").read_bytes()
                except OSError:
                    self.send_error(404)
                    return
            else:
                body = bodies[int(stem) % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder of .jpg thumbnails to serve")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds waited before each response (default: %(default)s)")
    parser.add_argument("--files", action="store_true",
                        help="serve FOLDER/<id>.jpg itself for each id, read from disk "
                             "(default: a few bodies held in memory serve every id)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    bodies = [] if args.files else [p.read_bytes() for p in sorted(args.folder.glob("*.jpg"))]
    if not bodies and not args.files:
        sys.exit(f"error: no .jpg files in {args.folder}")
    httpd = _Server(("127.0.0.1", args.port),
                    make_handler(bodies, args.latency, args.folder if args.files else None))
    print(httpd.server_port, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
