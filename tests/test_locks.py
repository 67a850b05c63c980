"""Two runs at once on one folder: the second refuses at once naming the first; a lock left
by a killed run is taken over without a word."""
import os
import signal
import subprocess
import sys
import time

import pytest

import check
import deal
import train
from conftest import ROOT, image_bytes, make_downloaded, make_shapes_data, read_csv
from tagger.core.locks import Busy, folder_lock_path, hold, run_lock_path

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from tagger.core.locks import hold
with hold({path!r}, "the folder"):
    print("holding", flush=True)
    time.sleep(120)
"""


def start_holder(lock_path):
    """Another process holding the lock, as a stage would."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), path=str(lock_path))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_command(tmp_path):
    lock = tmp_path / "d" / ".lock"
    holder = start_holder(lock)
    try:
        with pytest.raises(Busy) as exc:
            with hold(lock, "the folder d"):
                pass
        message = str(exc.value)
        assert f"pid {holder.pid}" in message and "python" in message and "-c" in message
        assert "the folder d is in use by another run" in message and "running since 20" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_and_removed_after(tmp_path):
    lock = tmp_path / ".lock"
    holder = start_holder(lock)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.exists()  # left behind, as after kill -9
    with hold(lock, "the folder"):
        assert f'"pid": {os.getpid()}' in lock.read_text()
    assert not lock.exists()


def test_holds_one_after_another_in_one_process(tmp_path):
    for _ in range(3):
        with hold(tmp_path / ".lock", "the folder"):
            with pytest.raises(Busy):  # another open of the same lock, even in this process
                with hold(tmp_path / ".lock", "the folder"):
                    pass
    assert os.listdir(tmp_path) == []


def test_a_second_deal_refuses_at_once_and_the_first_finishes_intact(data_dir, capsys):
    picture = image_bytes((200, 30, 30), (800, 600))
    make_downloaded(data_dir, [(i, "smile", picture) for i in range(1, 301)], ["smile"])
    cmd = [sys.executable, str(ROOT / "deal.py"), "--data-dir", str(data_dir), "--workers", "1"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = folder_lock_path(data_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.02)
    started = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        deal.main(["--data-dir", str(data_dir), "--workers", "1"])
    assert exc.value.code == 2 and time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert f"pid {first.pid}" in err and "deal.py --data-dir" in err and str(data_dir) in err
    with pytest.raises(SystemExit):  # every stage that writes the data folder
        check.main(["--data-dir", str(data_dir)])
    assert f"pid {first.pid}" in capsys.readouterr().err
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "resized 300 images" in out
    assert len(read_csv(data_dir / "labels.csv")) == 300
    assert len(os.listdir(data_dir / "anime_images" / "smile")) == 300
    assert not lock.exists()


def test_train_refuses_a_run_folder_in_use_and_writes_nothing(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data", n=12)
    run = tmp_path / "runs" / "r"
    holder = start_holder(run_lock_path(run))
    try:
        with pytest.raises(SystemExit) as exc:
            train.main(["--data-dir", str(data), "--run", str(run), "--epochs", "1"])
        assert exc.value.code == 2 and f"pid {holder.pid}" in capsys.readouterr().err
        assert not run.exists()
    finally:
        holder.kill()
        holder.wait()


def test_taking_a_data_folders_lock_clears_only_a_killed_runs_temporaries(tmp_path):
    """What a killed run was writing goes, down to the tag folders; nothing else does, and
    a name that only looks like a temporary in a folder too deep is left alone."""
    data = tmp_path / "data"
    tag = data / "anime_images" / "blue_hair"
    tag.mkdir(parents=True)
    left = [data / "images" / ".1.jpg.123-456.part", tag / ".x.123-456.png",
            data / ".labels.csv.9-9.part"]
    kept = [data / "images" / "1.jpg", tag / "2.jpg", data / "labels.csv",
            tag / "deeper" / ".y.1-2.png", data / "images" / ".notes.part"]
    for path in left + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    from tagger.core.locks import data_folder

    with data_folder(data):
        assert [p for p in left if p.exists()] == []
        assert [p for p in kept if not p.exists()] == []
