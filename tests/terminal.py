"""Run a script as a person does: in a terminal (a pseudo-terminal), where Ctrl-C is a key.

The terminal turns the Ctrl-C byte into SIGINT for every process of the script (its worker
processes included), and progress bars draw because the output is a terminal.
"""
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

from conftest import ROOT


def _become_terminal_owner():
    """In the child, after setsid: take the pseudo-terminal as the controlling terminal, and
    let Ctrl-C through even when the tests themselves run in the background (`cmd &`),
    which makes every child ignore SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """One script running in its own pseudo-terminal; `output` is everything it printed."""

    def __init__(self, script, *args, cwd=None):
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))
        self.proc = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     start_new_session=True, preexec_fn=_become_terminal_owner)
        os.close(slave)
        self._chunks = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: every process holding the terminal has ended
                return
            if not data:
                return
            self._chunks.append(data)

    @property
    def output(self):
        return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, pattern, timeout=60):
        """Wait until the output matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output):
            assert self.proc.poll() is None, f"ended before {pattern!r}:\n{self.output}"
            assert time.monotonic() < deadline, f"no {pattern!r} in {timeout} s:\n{self.output}"
            time.sleep(0.05)

    def ctrl_c(self):
        """Press Ctrl-C; return when it was pressed (time.monotonic())."""
        os.write(self._master, b"\x03")
        return time.monotonic()

    def wait(self, timeout):
        """The exit status, once it has ended (AssertionError if not within `timeout` s)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s:\n{self.output}") from None
        self._reader.join(2)
        return rc

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self._master)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def last_line(text):
    """The last non-empty line a terminal would show (progress bars redraw with \\r)."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # colours, line erasing
    lines = [l.split("\r")[-1].strip() for l in text.replace("\r\n", "\n").split("\n")]
    return [l for l in lines if l][-1]
