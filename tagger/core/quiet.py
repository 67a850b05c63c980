"""Keep TensorFlow's C++ log lines off the terminal, unless the user asks for them.

Called by each script at its start, after its arguments are parsed and before TensorFlow is
imported; never on import of the package (a library that silences its host on import hides
the host's own problems).

Measured on a CPU-only machine with TensorFlow 2.21: importing TensorFlow prints six lines
(two "All log messages before absl::InitializeLog()" banners, "oneDNN custom operations are
on" and "Could not find cuda drivers", each twice, once per native library) before
TF_CPP_MIN_LOG_LEVEL is read, so no environment variable removes them; they are dropped from
the process's stderr while the import runs. Later, TF_CPP_MIN_LOG_LEVEL=3 removes the rest:
"failed call to cuInit ... (303)" and "oneDNN supports DT_BOOL only on platforms with AVX-512"
are error-level lines, so level 2 keeps them, and CUDA_VISIBLE_DEVICES="" does not remove
cuInit's line either.
"""
import contextlib
import os
import re
import sys
import tempfile
import warnings

QUIET_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
# An absl/glog line ("I0000 00:00:1796236897.159287   29445 port.cc:153] ...") and absl's
# banner before its logging is set up.
LOG_LINE = re.compile(rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\] |"
                      rb"WARNING: All log messages before absl::InitializeLog\(\) is called)")
# Python warnings raised inside dependencies, about their own code: nothing a user can act on.
# (message, category, module), as measured: Keras's ONNX export warns on every export.
DEPENDENCY_WARNINGS = (
    (r"In the future `np\.object` will be defined", FutureWarning, r"keras\.src\.export\."),
)


def keep_quiet(verbose=False):
    """Unless `verbose` or the user set TF_CPP_MIN_LOG_LEVEL (to anything but the quiet
    level), keep TensorFlow's C++ log lines and dependencies' own warnings off the terminal.
    Returns a context manager to import TensorFlow in (it drops the lines printed while the
    import runs); it does nothing when the user asked to see them."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    if verbose or level not in (None, QUIET_LEVEL):
        return contextlib.nullcontext()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LEVEL  # read by TensorFlow, and by workers
    for message, category, module in DEPENDENCY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    return without_log_lines()


def _scratch_file():
    """An anonymous file: in memory where the system offers one (writes nothing to any disk
    folder), else a temporary file."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("stderr-while-loading"), "w+b")
    return tempfile.TemporaryFile()


@contextlib.contextmanager
def without_log_lines():
    """Run the block with the process's stderr (file descriptor 2, which native code writes
    to) caught in an anonymous file, then print what it caught except absl/glog log lines, so
    a Python error or warning printed meanwhile still shows."""
    sys.stderr.flush()
    saved = os.dup(2)
    with _scratch_file() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:  # fd 2 first: a Ctrl-C in here must not leave it in the temporary file
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True)
                    if not LOG_LINE.match(line)]
            if kept:
                sys.stderr.write(b"".join(kept).decode("utf-8", "replace"))
                sys.stderr.flush()


QUIET_HELP = "no progress bar and no line per item: only the summary"


def add_verbosity(parser, quiet_help=QUIET_HELP, tensorflow=True):
    """--quiet and --verbose, one or the other (`tensorflow`: the script loads TensorFlow,
    whose own log lines --verbose shows too)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help=quiet_help)
    group.add_argument("--verbose", action="store_true",
                       help="also show TensorFlow's own log lines and dependencies' warnings"
                       if tensorflow else "also show dependencies' own warnings")


def from_args(args):
    """keep_quiet() as --verbose says. Takes --verbose and --quiet out of the parsed `args`
    (they say what is printed, not how a stage's output is made, so args.json leaves them
    out and a resumed run may change them); returns (the context to import TensorFlow in,
    whether --quiet was given)."""
    verbose, quiet = vars(args).pop("verbose"), vars(args).pop("quiet")
    return keep_quiet(verbose), quiet
