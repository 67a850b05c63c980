"""One stage at a time per folder: a lock file held with flock while a stage works.

The kernel releases a flock when its process ends, however it ends (kill -9 included), so
a lock left by a killed run is simply taken over by the next one; a second run started
while the first works is refused at once, with the first one's pid, command and start time
(which the holder writes into the lock file). The file is removed when its holder is done.
The holder of a folder's lock is its only writer, so the temporary files found there on
taking it are what a killed run was writing: they are removed then.
On a system without fcntl (Windows) no lock is taken.
"""
import contextlib
import errno
import json
import os
import shlex
import sys
import time
from pathlib import Path

from .files import clear_temporaries

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class Busy(OSError):
    """Another process holds the lock; its message names that process."""

    def __init__(self, message):
        super().__init__(errno.EBUSY, message)


def folder_lock_path(folder):
    """The lock of a data folder (tag.py, draw.py and export.py lock theirs through
    tagger/infer/writer.py, whose lock files are named so no other tool's can be taken)."""
    return Path(folder) / ".lock"


def run_lock_path(run):
    """The lock of a run folder: beside it, since train.py --overwrite renames the folder."""
    run = Path(run)
    return run.parent / f".{run.name}.lock"


def this_command():
    """How this process was started, as a person would type it."""
    return shlex.join([Path(sys.executable).name, *sys.argv])


def data_folder(data_dir):
    """Hold DATA_DIR's lock (the stages that write into it: download, set_dic, deal, check).
    A folder that does not exist yet holds nothing to protect and is not made here."""
    return hold(folder_lock_path(data_dir), f"the data folder {data_dir}", create=False,
                clear=(data_dir, 3))  # images/, resized/, anime_images/<tag>/, quarantine/<tag>/


def run_folder(run):
    """Hold a run folder's lock (train.py, and test.py, which writes RUN/eval)."""
    return hold(run_lock_path(run), f"the run folder {run}", clear=(run, 2))


@contextlib.contextmanager
def hold(lock_path, what, create=True, clear=None):
    """Hold the lock at `lock_path` for the block; raise Busy naming the holder if another
    process has it. `what` names the locked thing in the message ("the data folder data").
    The lock's folder is made if missing, or with create=False nothing is locked then.
    `clear`: (folder, depth) whose temporary files to remove once the lock is taken."""
    lock_path = Path(lock_path)
    if fcntl is None or not create and not lock_path.parent.is_dir():
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lock_path, what)
    try:
        info = {"pid": os.getpid(), "command": this_command(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        if clear:
            clear_temporaries(*clear)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # while still held: nobody can be holding this file then
        os.close(fd)


def _acquire(lock_path, what):
    """Open and flock the lock file; return its descriptor."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = _read_holder(fd)
            os.close(fd)
            raise Busy(f"{what} is in use by another run: {holder}; wait for it to end (or "
                       f"stop it), then run this again") from None
        try:  # its last holder may have removed the file between our open and flock
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _read_holder(fd):
    """The holder's pid, command and start time, as words."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except ValueError:  # written at this very moment
        info = {}
    if not info.get("pid"):
        return "a process that is just starting"
    return f"pid {info['pid']} ({info.get('command', '?')}), running since {info.get('since', '?')}"
