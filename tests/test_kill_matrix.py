"""The kill matrix: each stage killed with SIGKILL (its worker processes too) at seeded points
spread over its run, then run again with the same command, ends exactly where an
uninterrupted run ends: the same files with the same bytes for download.py, deal.py,
check.py, tag.py (one score row per picture) and draw.py, no temporary file, lock,
journal or backup left; export.py leaves the same export and nothing else; train.py
resumes from its last finished epoch and leaves a run that loads. The reruns redo only what the kill cut short.

A point is a moment of progress (the k-th thumbnail, resized image, decoded picture, epoch or
drawn picture, k drawn from SEED) plus a seeded delay of a few milliseconds.
"""
import contextlib
import csv
import hashlib
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, Reply, Server, image_bytes, write_csv
from tagger.core.files import TEMPORARY_NAME
from tagger.infer.writer import BACKUPS as TAGGER_BACKUPS
from tagger.infer.writer import JOURNAL as TAGGER_JOURNAL
from tagger.infer.writer import MARK as TAGGER_TEMPORARY

SEED = 12
POSTS = 80
MISSING = {7, 31, 58}  # ids whose thumbnail the server does not have (404)
TAGS = ("red", "blue", "circle", "square")


def snapshot(folder):
    """{relative path: sha1} of every file under `folder`, hidden ones included."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            found[str(path.relative_to(folder))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def copy_tree(src, dst):
    """Copy a case folder keeping its hard links (check.py groups tag-folder entries by them)."""
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def start(cwd, script, *args):
    out = open(Path(cwd) / f".{script}.out", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = out
    return proc


def finish(proc, timeout=300):
    """Wait for a run; return its output (and remove the log file, which is not its output)."""
    proc.wait(timeout)
    proc.log.close()
    path = Path(proc.log.name)
    text = path.read_text()
    path.unlink()
    return proc.returncode, text


def run(cwd, script, *args):
    rc, out = finish(start(cwd, script, *args))
    assert rc == 0, out
    return out


def in_process(cwd, script, *args):
    """Run a stage's main() here (TensorFlow is loaded once), in `cwd`; return its output."""
    import importlib

    here = os.getcwd()
    out = io.StringIO()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out):
            importlib.import_module(script).main(list(args))
    finally:
        os.chdir(here)
    return out.getvalue()


def kill_at(cwd, script, args, progress, k, delay):
    """Start a stage, wait until progress() >= k, wait `delay` s more, SIGKILL its whole
    process group. Return True if it was killed while still running."""
    proc = start(cwd, script, *args)
    deadline = time.monotonic() + 120
    while proc.poll() is None and progress() < k and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    return running


def leftovers(folder):
    """Temporary files, locks and journals: what only a run in progress may have."""
    return [p for p in Path(folder).rglob(".*") if TEMPORARY_NAME.match(p.name)
            or p.name in (".lock", ".check_plan.json", ".check_inspected.jsonl")
            or p.name.endswith(".lock") or TAGGER_TEMPORARY in p.name
            or p.name.endswith(TAGGER_JOURNAL) or p.name == TAGGER_BACKUPS]


def count(folder, pattern="*"):
    folder = Path(folder)
    return sum(1 for p in folder.glob(pattern) if not p.name.startswith(".")) if folder.is_dir() else 0


def points(n, low, high):
    """n seeded progress points in [low, high], spread over the range, with small delays."""
    rng = random.Random(f"{SEED}/{low}/{high}/{n}")
    edges = np.linspace(low, high, n + 1)
    return [(rng.randint(int(a), max(int(a), int(b) - 1)), rng.uniform(0, 0.02))
            for a, b in zip(edges[:-1], edges[1:])]


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def states(tmp_path_factory, server):
    """The reference: each stage's input and its uninterrupted output, in folders named by
    stage (every command runs in the folder, with relative paths, so outputs compare)."""
    root = tmp_path_factory.mktemp("kill")
    rng = np.random.default_rng(SEED)
    rows = []
    for i in range(1, POSTS + 1):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        body = image_bytes(colour, (400, 300))
        if i == 40:
            body = server.routes["/11.jpg"][0].body  # a duplicate picture under another id
        url = server.route(f"/{i}.jpg", Reply(404) if i in MISSING else
                           Reply(200, body, {"Content-Type": "image/jpeg"}, delay=0.01))
        rows.append({"id": i, "url": url, "tags": f"{TAGS[i % 2]} {TAGS[2 + i % 3 // 2]} x"})
    states = {"download": root / "download"}
    write_csv(root / "download" / "data" / "all_data.csv", rows)
    for stage, nxt, args in (("download", "deal", DOWNLOAD), ("deal", "check", DEAL),
                             ("check", "train", CHECK)):
        copy_tree(states[stage], root / f"{stage}-done")
        run(root / f"{stage}-done", f"{stage}.py", *args)
        states[f"{stage}-done"] = root / f"{stage}-done"
        copy_tree(root / f"{stage}-done", root / nxt)
        states[nxt] = root / nxt
        if nxt == "deal":
            (root / "deal" / "data" / "dic.txt").write_text("".join(f"{t}\n" for t in TAGS))
        if nxt == "check":  # a picture cut short, as a disk error would leave it
            with open(root / "check" / "data" / "resized" / "5.jpg", "r+b") as f:
                f.truncate(2000)
    return states


DOWNLOAD = ("--data-dir", "data", "--connections", "2")
DEAL = ("--data-dir", "data", "--workers", "2", "--image-size", "96")
CHECK = ("--data-dir", "data", "--workers", "1", "--max-per-tag", "30")


def test_download_killed_anywhere_ends_as_an_uninterrupted_run(states, server, tmp_path):
    expected = snapshot(states["download-done"])
    killed = 0
    for n, (k, delay) in enumerate(points(3, 5, POSTS - 10)):
        case = tmp_path / f"k{n}"
        copy_tree(states["download"], case)
        killed += kill_at(case, "download.py", DOWNLOAD, lambda: count(case / "data" / "images"),
                          k, delay)
        have = count(case / "data" / "images")
        before = len(server.log)
        out = run(case, "download.py", *DOWNLOAD)
        assert f"already present {have:,}" in out
        assert len(server.log) - before == POSTS - have  # only the rest, and the 404s again
        assert snapshot(case) == expected and not leftovers(case)
    assert killed >= 2, "the kills should land mid-run"


def test_deal_killed_anywhere_ends_as_an_uninterrupted_run(states, tmp_path):
    expected = snapshot(states["deal-done"])
    killed = 0
    total = POSTS - len(MISSING)
    for n, (k, delay) in enumerate(points(3, 2, total - 8)):
        case = tmp_path / f"k{n}"
        copy_tree(states["deal"], case)
        killed += kill_at(case, "deal.py", DEAL, lambda: count(case / "data" / "resized"), k, delay)
        done = count(case / "data" / "resized")
        out = run(case, "deal.py", *DEAL)
        assert f"resized {total - done:,} images" in out  # nothing done before is redone
        assert snapshot(case) == expected and not leftovers(case)
    assert killed >= 2, "the kills should land mid-run"


def test_check_killed_anywhere_ends_as_an_uninterrupted_run(states, tmp_path):
    expected = snapshot(states["check-done"])
    journal = ".check_inspected.jsonl"
    killed = 0
    for n, (k, delay) in enumerate(points(3, 2, POSTS - len(MISSING))):
        case = tmp_path / f"k{n}"
        copy_tree(states["check"], case)
        data = case / "data"

        def progress():
            if (data / ".check_plan.json").exists():
                return 10**9
            # complete records only: a line torn by the kill is not read back
            return (data / journal).read_bytes().count(b"\n") if (data / journal).exists() else 0
        killed += kill_at(case, "check.py", CHECK, progress, k, delay)
        decoded = progress()
        out = run(case, "check.py", *CHECK)
        if 0 < decoded < 10**9:
            assert f"reused {decoded:,} pictures" in out  # decoded again: only the rest
        assert snapshot(case) == expected and not leftovers(case), out
    assert killed >= 2, "the kills should land mid-run"


TRAIN = ("--data-dir", "data", "--run", "runs/r", "--image-size", "16", "--batch-size", "32",
         "--epochs", "3", "--patience", "0")


def history_lines(case):
    path = Path(case) / "runs" / "r" / "history.csv"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def trained(states, tmp_path_factory):
    """train.py killed after k epochs (plus a seeded part of the next), then run again."""
    cases = []
    for n, (k, delay) in enumerate(points(2, 1, 3)):
        case = tmp_path_factory.mktemp(f"train{n}")
        copy_tree(states["train"], case / "c")
        case = case / "c"
        killed = kill_at(case, "train.py", TRAIN, lambda: history_lines(case) - 1, k,
                         delay * 25)
        done = history_lines(case) - 1
        cases.append((case, killed, done, in_process(case, "train", *TRAIN)))
    return cases


def test_train_killed_after_any_epoch_resumes_from_it_and_loads(trained):
    from tagger.infer.keras_run import load_run

    resumed = []
    for case, killed, done, out in trained:
        run_dir = case / "runs" / "r"
        assert killed and done >= 1
        found = re.search(r"resuming after epoch (\d+)", out)
        resumed.append(int(found.group(1)) if found else 0)
        # an epoch whose history line was written but whose backup was not yet runs again
        assert done - 1 <= resumed[-1] <= done, out
        with open(run_dir / "history.csv") as f:
            assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]
        assert load_run(run_dir).predict(np.zeros((1, 16, 16, 3), np.uint8)).shape == (1, 4)
        assert not (run_dir / "checkpoints").exists() and not (run_dir / "best.keras").exists()
        assert not leftovers(case / "runs")
    assert max(resumed) >= 1, "no kill was resumed from a finished epoch"


def test_draw_killed_anywhere_ends_as_an_uninterrupted_run(trained, tmp_path):
    base = trained[0][0]
    pictures = base / "pictures"
    pictures.mkdir(exist_ok=True)
    for i in range(1, 13):
        Image.open(base / "data" / "resized" / f"{i + 59}.jpg").save(pictures / f"p{i:02}.png")
    def args(out):
        return ("pictures", "--run", "runs/r", "--out", out, "--caption", "--json")
    in_process(base, "draw", *args("drawn"))
    expected = snapshot(base / "drawn")
    killed = 0
    for n, (k, delay) in enumerate(points(2, 1, 11)):
        out = base / f"drawn{n}"
        out.mkdir()  # an existing --out: draw.py locks it
        kill_at(base, "draw.py", args(out.name), lambda: count(out, "*_tags.png"), k, delay)
        killed += count(out, "*_tags.png") < 12
        in_process(base, "draw", *args(out.name))
        assert snapshot(out) == expected and not leftovers(out)
    assert killed >= 1, "a kill should land mid-run"


def pictures_in(base, folder, n=12):
    """`n` of the trained run's pictures as PNGs in base/folder (made once)."""
    pictures = base / folder
    if not pictures.is_dir():
        pictures.mkdir()
        for i in range(1, n + 1):
            Image.open(base / "data" / "resized" / f"{i + 59}.jpg").save(pictures / f"p{i:02}.png")
    return pictures


def score_rows(path):
    with open(path, newline="") as f:
        return sorted(tuple(row) for row in csv.reader(f))


def test_tag_killed_anywhere_ends_as_an_uninterrupted_run(trained, tmp_path):
    base = trained[0][0]
    args = ("pics", "--run", str(base / "runs" / "r"), "--scores", "scores.csv",
            "--workers", "1", "--batch-size", "2")
    reference = tmp_path / "reference"
    reference.mkdir()
    copy_tree(pictures_in(base, "pictures"), reference / "pics")
    in_process(reference, "tag", *args)
    expected, rows = snapshot(reference / "pics"), score_rows(reference / "scores.csv")
    killed = 0
    for n, (k, delay) in enumerate(points(2, 1, 11)):
        case = tmp_path / f"k{n}"
        case.mkdir()
        copy_tree(pictures_in(base, "pictures"), case / "pics")
        killed += kill_at(case, "tag.py", args, lambda: count(case / "pics", "*.txt"), k, delay)
        killed_rows = len(score_rows(case / "scores.csv")) if (case / "scores.csv").exists() else 0
        in_process(case, "tag", *args)
        assert snapshot(case / "pics") == expected and score_rows(case / "scores.csv") == rows
        assert not leftovers(case), killed_rows
    assert killed >= 1, "a kill should land mid-run"


def test_export_killed_anywhere_ends_as_an_uninterrupted_run(trained, tmp_path):
    base = trained[0][0]
    run_dir = base / "runs" / "r"
    args = ("--run", str(run_dir), "--format", "onnx", "--out", "onnx")
    (tmp_path / "reference").mkdir()
    in_process(tmp_path / "reference", "export", *args)
    expected = sorted(os.listdir(tmp_path / "reference" / "onnx"))
    killed = 0
    for n, (k, delay) in enumerate(points(2, 1, 2)):  # once its .part folder is there
        case = tmp_path / f"k{n}"
        case.mkdir()

        def progress():
            parts = [p for p in case.iterdir() if TAGGER_TEMPORARY in p.name]
            return 10**9 if (case / "onnx").exists() else sum(len(os.listdir(p)) + 1
                                                              for p in parts if p.is_dir())
        landed = kill_at(case, "export.py", args, progress, k, delay * 50)
        finished = (case / "onnx").exists()  # killed after its rename: the export is whole
        killed += landed and not finished
        if not finished:
            in_process(case, "export", *args)
        assert sorted(os.listdir(case / "onnx")) == expected
        assert sorted(os.listdir(case)) == ["onnx"] and not leftovers(case)
    assert killed >= 1, "a kill should land mid-export"
