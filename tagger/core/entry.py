"""How a stage ends when it does not finish: Ctrl-C and ordinary OS errors as one line each.

Every script's main() is wrapped in `stage`; worker processes come from `process_pool`,
whose workers leave Ctrl-C to the parent (a terminal sends it to all of them at once).
"""
import errno
import functools
import os
import signal
import sys
from multiprocessing import get_context

STOPPED = "stopped; run the same command to continue"
INTERRUPTED = 130  # the shell's exit status for a program ended by Ctrl-C (128 + SIGINT)

_HINTS = {
    errno.ENOENT: "check the path, or run the stage that makes it first",
    errno.ENOTDIR: "a folder in this path is a file: check --data-dir, --run and --out",
    errno.EEXIST: "a file is where a folder is needed: check --data-dir, --run and --out",
    errno.EISDIR: "this is a folder: pass a file",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EROFS: "the disk is read-only: choose a folder you can write to",
    errno.ENOSPC: "the disk is full: free some space, then run the same command to continue",
    errno.EDQUOT: "the disk quota is full: free some space, then run the same command to continue",
}


def describe_os_error(exc):
    """One line for an OSError: the file, what went wrong, and what to do."""
    what = exc.strerror or str(exc)
    if exc.filename is None:
        return what
    where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else f"{exc.filename}"
    hint = _HINTS.get(exc.errno)
    return f"{where}: {what}" + (f"; {hint}" if hint else "")


def stage(main):
    """Wrap a script's main(argv): Ctrl-C prints one line and exits 130, an OSError prints
    one line naming the file and exits 2, both without a traceback. Work already done is
    kept by each stage's own `finally` blocks before this runs."""
    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except KeyboardInterrupt:
            # on a terminal, over the "^C" it echoed and any half-drawn progress line
            start = "\r\x1b[K" if sys.stderr.isatty() else ""
            print(start + STOPPED, file=sys.stderr, flush=True)
            raise SystemExit(INTERRUPTED) from None
        except OSError as exc:
            print(f"error: {describe_os_error(exc)}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
    return wrapped


def _ignore_interrupt():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(workers):
    """A multiprocessing Pool whose workers ignore Ctrl-C: the parent alone stops, and its
    `with` block terminates them, instead of every worker printing a traceback."""
    method = "spawn" if os.name == "nt" else "fork"
    return get_context(method).Pool(workers, initializer=_ignore_interrupt)
