"""Run one measured call in this process and print its time: python -m bench.child MODULE FUNC JSON.

JSON is a list (a script's argv, for `main`) or an object (keyword arguments). The last
stdout line is `BENCH_RESULT {...}` with the call's seconds and CPU seconds (imports not
included) and,
for the benchmark's own functions, whatever they returned.
"""
import importlib
import json
import os
import resource
import sys
import time


def cpu_seconds():
    """User + system time of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def peak_mb():
    """Peak resident memory of this process or of any child it waited for (pool workers), MB.

    Read here rather than from the parent's os.wait4: Linux carries ru_maxrss across exec,
    so a child forked from a large parent would report the parent's size.
    """
    own = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])  # KiB
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main():
    module_name, function_name, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    function = getattr(importlib.import_module(module_name), function_name)
    start, cpu = time.perf_counter(), cpu_seconds()
    out = function(payload) if isinstance(payload, list) else function(**payload)
    result = {"seconds": time.perf_counter() - start, "call_cpu_seconds": cpu_seconds() - cpu,
              "peak_mb": peak_mb()}
    if module_name.startswith("bench.") and isinstance(out, dict):
        result.update(out)
    sys.stdout.flush()
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
