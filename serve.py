"""Serve a tagger over HTTP: a page to paste, drop or choose pictures into, the webui tagger
extension's API (/tagger/v1/...) and this project's own (/api/tag), on uvicorn.

Examples:
  python serve.py --run runs/tagger
  python serve.py --runs-dir runs --port 7860 --auth user:secret
  curl -F image=@picture.jpg http://127.0.0.1:8000/api/tag
"""
import ipaddress
import signal
import sys

from tagger.core import cli, quiet
from tagger.core.entry import stage


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    what = parser.add_argument_group("Taggers").add_mutually_exclusive_group(required=True)
    what.add_argument("--run", type=cli.Path, default=None,
                      help="one tagger: a run folder, an ONNX or LiteRT export, a WD14 folder")
    what.add_argument("--runs-dir", type=cli.folder, default=None,
                      help="offer every run and export directly under this folder, by name")
    cli.add_device(parser.add_argument_group("Device"))
    net = parser.add_argument_group("Server")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on")
    net.add_argument("--port", type=cli.ranged(int, 0, 65535), default=8000,
                     help="port to listen on; 0 = any free one")
    net.add_argument("--auth", default=None, help="user:password for HTTP basic auth")
    net.add_argument("--max-body-mb", type=cli.positive_float, default=16,
                     help="largest request body accepted, in MiB")
    net.add_argument("--timeout", type=cli.positive_float, default=30,
                     help="seconds a picture may wait for the model before a 504")
    net.add_argument("--drain", type=cli.non_negative_float, default=30,
                     help="seconds Ctrl-C or SIGTERM waits for requests in flight")
    batch = parser.add_argument_group("Batching")
    batch.add_argument("--max-batch", type=cli.positive_int, default=32,
                       help="at most this many pictures per predict call")
    batch.add_argument("--max-wait-ms", type=cli.non_negative_float, default=5,
                       help="how long a picture waits for others to share its predict call")
    batch.add_argument("--max-queue", type=cli.positive_int, default=256,
                       help="pictures waiting at most; beyond, 503 with Retry-After")
    quiet.add_verbosity(parser, "no start-up lines and no line per request: only warnings "
                                "and errors")
    args = parser.parse_args(argv)
    if args.runs_dir is not None and not args.runs_dir.is_dir():
        parser.error(f"--runs-dir {args.runs_dir}: no such folder")
    if args.runs_dir is not None:
        from tagger.serve.models import Models

        if not Models(runs_dir=args.runs_dir).names():
            parser.error(f"--runs-dir {args.runs_dir}: no run or export directly under it (a "
                         f"folder with model.keras, a .onnx or a .tflite file)")
    if args.auth is not None and ":" not in args.auth:
        parser.error("--auth: give user:password")
    return args


def loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@stage
def main(argv=None):
    args = parse_args(argv)
    import uvicorn

    from tagger.serve.app import Serving, make_app
    from tagger.serve.batcher import Batching
    from tagger.serve.models import Models, Refused

    if not loopback(args.host):
        print(f"warning: listening on {args.host}, beyond this machine: anyone who reaches "
              f"it can tag pictures{'' if args.auth else ' (no --auth)'}", file=sys.stderr)
    models = Models(args.run, args.runs_dir, args.verbose, args.device)
    if args.run is not None:
        try:
            models.get(None)  # opened once, here: a tagger that cannot open is one line
        except Refused as exc:
            cli.fail(exc.reason)
    serving = Serving(models,
                      Batching(args.max_batch, args.max_wait_ms / 1000, args.max_queue),
                      int(args.max_body_mb * 2**20), args.timeout,
                      tuple(args.auth.split(":", 1)) if args.auth else None,
                      preload=args.run is not None)
    config = uvicorn.Config(make_app(serving), host=args.host, port=args.port,
                            timeout_keep_alive=5, timeout_graceful_shutdown=args.drain,
                            log_level="warning" if args.quiet else "info")
    server = uvicorn.Server(config)
    # uvicorn drains on SIGINT/SIGTERM, then raises the signal again: let that end in exit 0
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise SystemExit(2)
    if not args.quiet:
        print("stopped serving", file=sys.stderr)


if __name__ == "__main__":
    main()
