"""Running each measurement in its own process: its time, its result, and its peak memory."""
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH_RESULT "


class ChildFailed(RuntimeError):
    """A measured process exited with an error; the message ends with its output's tail."""


@dataclass
class Sample:
    """One measured call: seconds, peak resident memory of its largest process, CPU seconds
    of the process and its children (user + system, the whole run), CPU seconds of the
    call alone (without start-up and imports), its result."""
    seconds: float
    peak_mb: float
    cpu_seconds: float
    call_cpu: float
    result: dict = field(default_factory=dict)


def run_child(module, function, payload, log_path, timeout=900, env=None):
    """Run bench.child in a fresh process; it reports its own time, CPU and peak memory."""
    command = [sys.executable, "-m", "bench.child", module, function, json.dumps(payload)]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith(MARK)]
    if proc.returncode or not lines:
        raise ChildFailed(f"{module}.{function} exited with {proc.returncode}; "
                          f"log {log_path}:\n{text[-3000:]}")
    result = json.loads(lines[-1][len(MARK):])
    return Sample(result.pop("seconds"), result.pop("peak_mb"), usage.ru_utime + usage.ru_stime,
                  result.pop("call_cpu_seconds"), result)


def median(values):
    return statistics.median(values)


def interleaved(makers, repeats):
    """Call each maker in turn, `repeats` rounds, so drift on a shared machine hits all alike.

    `makers` maps a name to a function of the round number that returns a Sample.
    """
    samples = {name: [] for name in makers}
    for k in range(repeats):
        for name, make in makers.items():
            samples[name].append(make(k))
    return samples


@dataclass
class Bench:
    """Where a benchmark run keeps its files, how often it repeats, and its input sizes."""
    work: Path
    repeats: int
    sizes: dict
    cores: int

    def run(self, name, module, function, payload, timeout=900):
        """One measured call in a fresh process, logged to WORK/logs/NAME.log."""
        return run_child(module, function, payload, self.work / "logs" / f"{name}.log", timeout)


def rate(samples, items=None):
    """Median items per second over samples (items from each result unless given)."""
    return median([(items or s.result["items"]) / s.seconds for s in samples])


def peak(samples):
    """The largest peak resident memory among samples, MB."""
    return max(s.peak_mb for s in samples)
