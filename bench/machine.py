"""What machine the benchmark ran on, its theoretical fp32 peak, and how busy others kept it."""
import os
import platform
import resource
import time
from importlib import metadata


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo (empty off Linux)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def cores():
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def fp32_peak(info=None, n_cores=None):
    """(GFLOP/s, how it was worked out): cores x clock x fp32 FLOP per cycle from the flags.

    Assumes two FMA units per core (Intel Xeon Scalable and most recent desktop cores;
    some Xeon Silver/Bronze parts have one) and the clock /proc/cpuinfo reports, without
    turbo; an FMA counts as two FLOPs.
    """
    info = _cpuinfo() if info is None else info
    n_cores = n_cores or cores()
    flags = set(info.get("flags", "").split())
    ghz = float(info.get("cpu MHz", "nan")) / 1000
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags or "avx" in flags:
        lanes, isa = 8, "AVX2" if "avx2" in flags else "AVX"
    else:
        lanes, isa = 4, "SSE"
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    per_cycle = lanes * fma * 2  # two vector units per core
    how = (f"{n_cores} cores x {ghz:.2f} GHz x {per_cycle} fp32 FLOP/cycle ({isa}: {lanes} "
           f"lanes x {'FMA = 2' if fma == 2 else '1'} FLOP x 2 FMA units, assumed; no turbo)")
    return n_cores * ghz * per_cycle, how


def _version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def describe():
    """Lines describing the machine and software, for results.md."""
    info = _cpuinfo()
    peak, how = fp32_peak(info)
    return [
        f"CPU: {info.get('model name', platform.processor() or 'unknown')}, {cores()} cores "
        f"(of {os.cpu_count()}), {float(info.get('cpu MHz', 'nan')):.0f} MHz reported",
        f"Memory: {_memory_gib():.1f} GiB",
        f"fp32 peak (theoretical): {peak:.0f} GFLOP/s = {how}",
        f"Software: Python {platform.python_version()}, TensorFlow "
        f"{_version('tensorflow', 'tensorflow-cpu')}, Keras {_version('keras')}, NumPy "
        f"{_version('numpy')}, Pillow {_version('pillow', 'Pillow')}, urllib3 "
        f"{_version('urllib3')}; {platform.system()} {platform.release()}",
    ]


def _busy_seconds():
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    mine = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # every measured process is reaped
    return mine.ru_utime + mine.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMeter:
    """Average cores used by processes other than the benchmark over a stretch of time."""

    def __init__(self):
        self._start = (time.monotonic(), _busy_seconds(), _own_seconds())

    def others(self):
        wall, busy, own = (a - b for a, b in zip(
            (time.monotonic(), _busy_seconds(), _own_seconds()), self._start))
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0
