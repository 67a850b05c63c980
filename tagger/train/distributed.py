"""Training on one machine or many: TF_CONFIG, the strategy, who writes, and local workers.

A cluster is described the way Kubernetes training operators, Vertex AI and SageMaker
describe it to TensorFlow: the TF_CONFIG environment variable, for example
{"cluster": {"worker": ["host0:2222", "host1:2222"]}, "task": {"type": "worker", "index": 0}}.
Worker 0 (or a task of type "chief") is the chief: it alone writes the run's outputs.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Cluster:
    """This process's place in the cluster (one worker and no TF_CONFIG on a single machine)."""
    workers: tuple = ()      # host:port of every worker, the chief first
    index: int = 0           # this worker's position in `workers`

    @property
    def num_workers(self):
        return max(1, len(self.workers))

    @property
    def is_chief(self):
        return self.index == 0

    @property
    def is_multi_worker(self):
        return self.num_workers > 1


def cluster_from_env(environ=None):
    """Read TF_CONFIG into a Cluster; raise ValueError naming what is wrong with it."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return Cluster()
    try:
        config = json.loads(text)
        spec, task = config.get("cluster", {}), config.get("task", {})
        chief, workers = list(spec.get("chief", [])), list(spec.get("worker", []))
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON of the form {{\"cluster\": {{\"worker\": "
                         f"[\"host:port\", ...]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}: {exc}")
    unknown = set(spec) - {"chief", "worker"}
    if unknown:
        raise ValueError(f"TF_CONFIG has task types {sorted(unknown)}: train.py uses only chief "
                         f"and worker (MultiWorkerMirroredStrategy has no parameter servers)")
    if len(chief) > 1 or kind not in ("chief", "worker"):
        raise ValueError(f"TF_CONFIG: at most one chief, and task type chief or worker (got {kind})")
    everyone = chief + workers
    position = index if kind == "chief" else len(chief) + index
    if not everyone or not 0 <= position < len(everyone) or (kind == "chief" and index != 0):
        raise ValueError(f"TF_CONFIG: task {kind} {index} is not in the cluster {spec}")
    return Cluster(tuple(everyone), position)


def choose_strategy(cluster, mixed_precision="auto"):
    """MultiWorkerMirroredStrategy in a cluster, MirroredStrategy over local GPUs, else the
    default (one device); mixed precision on GPUs by default. Returns (strategy, the names of
    this machine's GPUs)."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision == "on" or (mixed_precision == "auto" and gpus):
        keras.mixed_precision.set_global_policy("mixed_float16")
    names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    if cluster.is_multi_worker:
        return tf.distribute.MultiWorkerMirroredStrategy(), names
    return (tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()), names


def describe_devices(gpu_names, mixed_precision, cluster=None, replicas=1):
    """Where training runs, as a person says it: "on the CPU (no GPU found)", "on 2 GPUs
    (NVIDIA H200), mixed precision", "on 2 workers (2 replicas)"."""
    if cluster is not None and cluster.is_multi_worker:
        where = f"on {cluster.num_workers} workers ({replicas} replicas)"
    elif gpu_names:
        count = "a GPU" if len(gpu_names) == 1 else f"{len(gpu_names)} GPUs"
        where = f"on {count} ({', '.join(sorted(set(gpu_names)))})"
    else:
        where = "on the CPU (no GPU found)"
    return where + (", mixed precision" if mixed_precision else "")


def barrier(strategy, cluster):
    """Wait until every worker of the cluster gets here (a no-op on one worker)."""
    if cluster.is_multi_worker:
        import tensorflow as tf

        strategy.reduce("SUM", strategy.run(tf.function(lambda: tf.constant(1.0))), axis=None)


@contextlib.contextmanager
def write_dir(path, cluster):
    """Yield where this worker writes what every worker must write (checkpoints, the best
    model): `path` on the chief, a temporary folder on the others, removed afterwards, as in
    TensorFlow's multi-worker guide (saving distributed variables may need every worker)."""
    if cluster.is_chief:
        yield path
        return
    scratch = tempfile.mkdtemp(prefix=f"tagger-worker{cluster.index}-")
    try:
        yield os.path.join(scratch, os.path.basename(str(path)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def free_ports(n, host="127.0.0.1"):
    """n TCP ports free on this machine right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_configs(n):
    """TF_CONFIG values for n workers on free ports of 127.0.0.1, worker 0 the chief."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(n)]
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
            for i in range(n)]


def run_local_workers(script, argv, n, poll_seconds=0.2):
    """Run `script argv` as n workers of one cluster on this machine; return the exit code.

    Worker 0, the chief, prints to this terminal; the others' output is dropped but their
    errors are not. If any worker fails or is killed, the others are stopped too (they would
    wait for it), so giving the same command again resumes from the last finished epoch.
    """
    procs = []
    for i, config in enumerate(local_tf_configs(n)):
        env = {**os.environ, "TF_CONFIG": config}
        quiet = {} if i == 0 else {"stdout": subprocess.DEVNULL}
        procs.append(subprocess.Popen([sys.executable, script, *argv], env=env, **quiet))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                break
            time.sleep(poll_seconds)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    codes = [p.returncode for p in procs]
    return next((c for c in codes if c != 0), 0)
