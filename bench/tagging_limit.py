"""What tagging a folder can cost at best on this machine, and where tag.py's time goes.

The limit: the CPU of tag.py's own decode of every picture (tagger.infer.decoding.decode_job,
one process, timed picture by picture), plus the network's CPU at its best rate, spread over
the cores, plus the backend's start-up (a fresh Python that opens the tagger and tags one
picture). tag.py's wall time is then given as a share of it, with a profile of the rest:
start-up, moving the decoded pictures between processes (pickling them both ways), the
main process's serial work (its CPU beyond the network's), and the network.

CPU times are summed over the command's whole process tree, sampled from /proc (workers
forked by the fork server are not the command's waited-for children).
Used by bench/tagging.py; each measuring step is a fresh process.
"""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LOAD = 1.5  # a one-minute load average over this at the start: not a result
TICK = os.sysconf("SC_CLK_TCK")

DECODE_COST = """import pickle, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tagger.infer.decoding import decode_job
size, fit, paths = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
decode_job(0, paths[0], size, fit, True)  # imports
kinds, moved, moving = {}, 0, 0.0
for i, path in enumerate(paths):
    start = time.process_time()
    done = decode_job(i, path, size, fit, True)
    spent = time.process_time() - start
    kind = Path(path).suffix.lower().lstrip(".").replace("jpeg", "jpg") or "other"
    n, total = kinds.get(kind, (0, 0.0))
    kinds[kind] = (n + 1, total + spent)
    start = time.process_time()
    data = pickle.dumps(done, pickle.HIGHEST_PROTOCOL)
    pickle.loads(data)
    moving += time.process_time() - start
    moved += len(data)
print(repr({"kinds": kinds, "moved_bytes": moved, "moving_cpu": moving}))
"""
NETWORK_COST = """import os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
threads, n = int(sys.argv[3]), int(sys.argv[4])
if threads:
    import onnxruntime
    from tagger.infer import onnx_run
    made = onnx_run.onnx_session
    def one_thread(model_file, device="cpu"):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnx_run.devices.onnx_session(model_file, options, device)
    onnx_run.onnx_session = one_thread
from tagger.infer.backends import open_tagger
tagger = open_tagger(sys.argv[2], "cpu")
x = np.random.default_rng(0).integers(0, 256, (n, tagger.image_size, tagger.image_size, 3),
                                      dtype=np.uint8)
tagger.predict(x[:64], 64)
best = (float("inf"), 0.0)
for _ in range(3):
    wall, cpu = time.perf_counter(), time.process_time()
    tagger.predict(x, 64)
    best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
print(repr({"wall": best[0], "cpu": best[1], "pictures": n}))
"""
STARTUP = """import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from tagger.infer.backends import open_tagger
tagger = open_tagger(sys.argv[2], "cpu")
tagger.predict(np.zeros((1, tagger.image_size, tagger.image_size, 3), np.uint8), 1)
"""


def load_gate():
    """(one-minute load average, cores others used over 2 s, busy?)."""
    from bench import machine

    meter = machine.LoadMeter()
    time.sleep(2)
    load, others = os.getloadavg()[0], meter.others()
    return load, others, load > BUSY_LOAD or others > 0.2


def child(script, *args):
    """Run a measuring script in a fresh Python; its printed dict."""
    import ast

    out = subprocess.run([sys.executable, "-c", script, str(ROOT), *map(str, args)], check=True,
                         capture_output=True, text=True).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def decode_cost(paths, size, fit):
    """tag.py's decode of every picture in one process: CPU by kind, pickled bytes and the
    CPU of pickling them both ways."""
    found = child(DECODE_COST, size, fit, *paths)
    found["cpu"] = sum(total for _, total in found["kinds"].values())
    return found


def network_cost(tagger, threads, n=512):
    """The network on `n` random pictures at batch 64: wall and CPU seconds, best of 3.
    `threads`: onnxruntime threads, spinning off (0: as tag.py opens the tagger)."""
    return child(NETWORK_COST, tagger, threads, n)


def startup_cost(tagger):
    """A fresh Python that imports the backend, opens the tagger and tags one picture."""
    wall = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", STARTUP, str(ROOT), str(tagger)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"opening {tagger} failed")
    return {"wall": time.perf_counter() - wall, "cpu": usage.ru_utime + usage.ru_stime}


def _cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _descendants(pid):
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return found


def timed(command, cwd=ROOT, every=0.02):
    """Run a command: wall seconds, CPU of its whole tree and of its main process (sampled
    every `every` s: a process's last few milliseconds are missed), and the cores other
    processes used meanwhile."""
    from bench import machine

    cpu, busy = {}, machine._busy_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    done = threading.Event()

    def sample():
        while not done.wait(every):
            for p in _descendants(proc.pid):
                try:
                    cpu[p] = max(cpu.get(p, 0.0), _cpu_of(p))
                except (OSError, ValueError, IndexError):
                    pass

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(map(str, command))} failed: "
                           f"{proc.stderr.read().decode()[-500:]}")
    total = sum(cpu.values())
    others = max(0.0, (machine._busy_seconds() - busy - total) / wall)
    return {"wall": wall, "cpu": total, "main_cpu": cpu.get(proc.pid, 0.0), "others": others,
            "load": os.getloadavg()[0]}


def limit(decode, network, startup, cores):
    """The best wall time: (decode + network CPU) over the cores, plus the start-up."""
    return (decode["cpu"] + network) / cores + startup["wall"]


def study(pictures, run, onnx, cores, rounds=2):
    """Every figure of the limit for one folder, for the Keras run (None: leave it out) and its
    ONNX export; tag.py and Pillow's one-process decode in turns, best of `rounds`.
    `pictures`: the bench's own copy (its captions are deleted between runs)."""
    paths = sorted(str(p) for p in Path(pictures).iterdir() if p.is_file())
    gate = load_gate()
    taggers = {"onnx": onnx, **({"keras": run} if run else {})}
    found = {"pictures": len(paths), "gate": gate, "cores": cores, "taggers": {}}
    for name, tagger in taggers.items():
        size, fit = _input_of(tagger)
        nets = {"as tag.py opens it": network_cost(tagger, 0)}
        if name == "onnx":
            nets["1 thread (per core)"] = network_cost(tagger, 1)
        best = min(v["cpu"] / v["pictures"] for v in nets.values())
        found["taggers"][name] = {"path": str(tagger), "size": size, "fit": fit,
                                  "decode": decode_cost(paths, size, fit), "networks": nets,
                                  "network_cpu": best * len(paths),
                                  "startups": [], "runs": []}
    found["pillow"], one = [], _one_picture(paths)
    for _ in range(rounds):
        _clear_captions(pictures)
        found["pillow"].append(timed([sys.executable, "-c", PILLOW, pictures]))
        for name, tagger in taggers.items():
            entry = found["taggers"][name]
            entry["startups"].append(startup_cost(tagger))
            entry["startup"] = min(entry["startups"], key=lambda r: r["wall"])
            _clear_captions(pictures)
            entry["runs"].append(timed([sys.executable, str(ROOT / "tag.py"), pictures, "--run",
                                        tagger, "--quiet"]))
            _clear_captions(one)
            entry.setdefault("starts", []).append(timed(
                [sys.executable, str(ROOT / "tag.py"), one, "--run", tagger, "--quiet"]))
    _clear_captions(pictures)
    import shutil

    shutil.rmtree(one)
    return found


PILLOW = """import sys
from pathlib import Path
from PIL import Image
for f in sorted(Path(sys.argv[1]).iterdir()):
    if f.is_file():
        try:
            with Image.open(f) as img:
                img.load()
        except Exception:
            pass
"""


def _input_of(tagger):
    out = child("import sys; sys.path.insert(0, sys.argv[1])\n"
                "from tagger.infer.backends import open_tagger\n"
                "t = open_tagger(sys.argv[2], 'cpu'); print(repr((t.image_size, t.fit)))",
                tagger)
    return out


def _one_picture(paths):
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tagging-one-"))
    shutil.copy(paths[0], folder / Path(paths[0]).name)
    return str(folder)


def _clear_captions(folder):
    for caption in Path(folder).glob("*.txt"):
        caption.unlink()


GOALS = {"onnx": 0.85, "keras": None}  # share of the limit; the Keras goal is 1.2x Pillow


def report(found):
    """The section's Markdown: the gate, the limit table and each tagger's profile."""
    load, others, busy = found["gate"]
    n, cores = found["pictures"], found["cores"]
    pillow = min(r["wall"] for r in found["pillow"])
    worst = max(r["others"] for r in found["pillow"])
    lines = [f"{n:,} pictures; {cores} cores. At the start: load average {load:.2f}, other "
             f"processes on {others:.2f} cores: "
             + ("**a busy machine: these figures are noise, not a result** (rerun when the "
                f"load average is under {BUSY_LOAD})" if busy else "an idle machine, a result."),
             "", f"Pillow alone, one process, start-up included (`Image.open(f).load()` per "
             f"file): best {pillow:.2f} s ({n / pillow:.0f} pictures/s; other processes on up "
             f"to {worst:.2f} cores).", "",
             "| tagger | decode CPU (PNG / JPEG) | network CPU | start-up | limit | limit vs "
             "Pillow | tag.py (best) | share of limit | tag.py vs Pillow | goal | others' "
             "cores (worst) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    profiles = []
    for name, t in found["taggers"].items():
        best = min(t["runs"], key=lambda r: r["wall"])
        bound = limit(t["decode"], t["network_cpu"], t["startup"], cores)
        share, against = bound / best["wall"], pillow / best["wall"]
        goal = (f">= 85% of the limit: {'met' if share >= 0.85 else '**not met**'}"
                if GOALS[name] else f">= 1.2x Pillow: {'met' if against >= 1.2 else '**not met**'}")
        kinds = t["decode"]["kinds"]
        lines.append(
            f"| {name} ({t['size']} px, {t['fit']}) | {t['decode']['cpu']:.2f} s "
            f"({kinds.get('png', (0, 0))[1]:.2f} / {kinds.get('jpg', (0, 0))[1]:.2f}) | "
            f"{t['network_cpu']:.2f} s | {t['startup']['wall']:.2f} s | {bound:.2f} s | "
            f"{pillow / bound:.2f}x | {best['wall']:.2f} s | {share:.0%} | {against:.2f}x | "
            f"{goal} | {max(r['others'] for r in t['runs']):.2f} |")
        profiles += profile(name, t, best, cores, n)
    return lines + profiles


def profile(name, t, best, cores, n):
    """Where tag.py's time on `name` goes, against the limit's parts."""
    start = min(t["starts"], key=lambda r: r["wall"])
    decode, net = t["decode"], t["network_cpu"]
    serial = best["main_cpu"] - net - start["main_cpu"]
    spare = best["wall"] * cores - best["cpu"]
    rows = [("start-up: tag.py on a folder of one picture (wall)", start["wall"],
             f"{start['cpu']:.2f} s CPU; the backend alone: {t['startup']['wall']:.2f} s"),
            ("decoding (CPU, tag.py's decode in one process)", decode["cpu"],
             f"{decode['cpu'] / cores:.2f} s over {cores} cores"),
            ("moving decoded pictures between processes (pickling both ways, CPU)",
             decode["moving_cpu"], f"{decode['moved_bytes'] / 2**20:.0f} MB"),
            ("the network (CPU at its best rate)", net, _rates(t["networks"])),
            ("the main process's serial work (its CPU beyond the network and start-up)",
             serial, "writing captions, choosing tags, collecting results"),
            ("tag.py's whole CPU (every process)", best["cpu"],
             f"{best['cpu'] - decode['cpu'] - net:.2f} s beyond decoding and the network"),
            ("cores tag.py left to others or idle (wall x cores - its CPU)", spare,
             f"{spare / cores:.2f} s of wall time")]
    return ["", f"Where tag.py's {best['wall']:.2f} s on {name} go ({n:,} pictures; other "
            f"processes on {best['others']:.2f} cores meanwhile):", "",
            "| part | seconds | note |", "|---|---|---|",
            *(f"| {what} | {value:.2f} | {note} |" for what, value, note in rows)]


def _rates(networks):
    return "; ".join(f"{k}: {v['pictures'] / v['wall']:.0f} pictures/s, "
                     f"{v['cpu'] / v['pictures'] * 1e3:.2f} ms CPU a picture"
                     for k, v in networks.items())
