"""Multi-worker training: TF_CONFIG, who writes, two local workers, and a worker killed mid-run."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import test as test_script
import train
from conftest import ROOT, make_shapes_data
from tagger.train.distributed import Cluster, cluster_from_env, local_tf_configs, write_dir


def tf_config(workers, kind="worker", index=0, chief=None):
    spec = {"worker": workers, **({"chief": chief} if chief else {})}
    return {"TF_CONFIG": json.dumps({"cluster": spec, "task": {"type": kind, "index": index}})}


def test_tf_config_names_the_chief_and_this_worker():
    assert cluster_from_env({}) == Cluster() and Cluster().is_chief
    two = cluster_from_env(tf_config(["a:1", "b:1"], index=1))
    assert two.workers == ("a:1", "b:1") and two.index == 1
    assert two.is_multi_worker and not two.is_chief
    with_chief = cluster_from_env(tf_config(["b:1"], "chief", 0, chief=["a:1"]))
    assert with_chief.is_chief and with_chief.num_workers == 2
    assert cluster_from_env(tf_config(["b:1"], "worker", 0, chief=["a:1"])).index == 1


@pytest.mark.parametrize("environ, words", [
    ({"TF_CONFIG": "{not json"}, "not valid JSON"),
    (tf_config(["a:1"], index=3), "not in the cluster"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"], "ps": ["p:1"]},
                               "task": {"type": "worker", "index": 0}})}, "parameter servers"),
])
def test_a_bad_tf_config_is_explained(environ, words):
    with pytest.raises(ValueError, match=words):
        cluster_from_env(environ)


def test_only_the_chief_writes_into_the_run(tmp_path):
    with write_dir(tmp_path / "checkpoints", Cluster(("a", "b"), 0)) as path:
        assert path == tmp_path / "checkpoints"
    with write_dir(tmp_path / "checkpoints", Cluster(("a", "b"), 1)) as path:
        assert tmp_path not in Path(path).parents
        os.makedirs(path)
    assert not os.path.exists(path)  # a worker's scratch copy is removed
    configs = [json.loads(c) for c in local_tf_configs(3)]
    assert len({tuple(c["cluster"]["worker"]) for c in configs}) == 1
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]


def _flags(data, run, *more):
    # two workers with batches of 8 make the same global batch of 16 as one worker with 16
    return ["--data-dir", str(data), "--run", str(run), "--lr", "3e-3", "--patience", "0", *more]


def test_two_local_workers_train_a_model_that_scores_like_one_worker(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data", n=64)
    one, two = tmp_path / "runs" / "one", tmp_path / "runs" / "two"
    train.main(_flags(data, one, "--epochs", "4", "--batch-size", "16"))
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *_flags(
        data, two, "--epochs", "4", "--batch-size", "8", "--local-workers", "2")],
        capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on 2 workers (2 replicas)" in done.stdout
    for name in ("model.keras", "thresholds.csv", "history.csv", "split.csv", "args.json"):
        assert (two / name).is_file(), name
    assert not (two / "checkpoints").exists()
    history = list(csv.DictReader(open(two / "history.csv")))
    assert [r["epoch"] for r in history] == ["0", "1", "2", "3"]
    assert float(history[-1]["loss"]) < float(history[0]["loss"])
    assert (two / "split.csv").read_text() == (one / "split.csv").read_text()
    scores = {}
    for run in (one, two):
        capsys.readouterr()
        scores[run.name] = test_script.main(["--run", str(run), "--min-common", "1", "--quiet"])
    # chance is 0.5 mAP (each of the 4 tags is on half of the images)
    assert scores["one"]["map"] > 0.8 and scores["two"]["map"] > 0.8, scores
    assert abs(scores["one"]["map"] - scores["two"]["map"]) < 0.15, scores


def _start_workers(cmd, configs):
    return [subprocess.Popen(cmd, env={**os.environ, "TF_CONFIG": c}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for c in configs]


def test_a_killed_worker_and_the_same_commands_again_resume_the_cluster(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=48)
    run = tmp_path / "runs" / "k"
    cmd = [sys.executable, str(ROOT / "train.py"), *_flags(data, run, "--epochs", "5",
                                                           "--batch-size", "8")]
    configs = local_tf_configs(2)  # as a cluster's machines would have them, set by hand
    chief, worker = _start_workers(cmd, configs)
    history = run / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and chief.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 3:  # 2 epochs done
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    try:  # the chief notices that its peer is gone and stops by itself
        chief.communicate(timeout=180)
    finally:
        chief.kill()
    assert chief.returncode != 0
    done = len(history.read_text().splitlines()) - 1
    assert 2 <= done < 5, "the kill should land mid-run"
    procs = _start_workers(cmd, configs)
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:]
    assert "resuming after epoch" in outputs[0]
    assert [int(r["epoch"]) for r in csv.DictReader(open(history))] == list(range(5))
    assert (run / "model.keras").exists() and not (run / "checkpoints").exists()


def test_where_training_runs_is_said_in_words():
    from tagger.train.distributed import Cluster, describe_devices

    assert describe_devices([], False) == "on the CPU (no GPU found)"
    assert describe_devices(["NVIDIA H200"], True) == "on a GPU (NVIDIA H200), mixed precision"
    assert describe_devices(["NVIDIA H200"] * 2, True) == "on 2 GPUs (NVIDIA H200), mixed precision"
    two = Cluster(("127.0.0.1:1", "127.0.0.1:2"), 0)
    assert describe_devices([], False, two, 2) == "on 2 workers (2 replicas)"
