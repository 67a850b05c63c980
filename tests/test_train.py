"""train.py: the run folder, the split, both objectives, and resuming after a kill."""
import csv
import re
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import train
from conftest import ROOT, SHAPE_TAGS, make_shapes_data, read_csv
from tagger.train.dataset import load_examples, sample_table, split_ids


def train_args(data_dir, run, *flags):
    return ["--data-dir", str(data_dir), "--run", str(run), "--batch-size", "16",
            "--lr", "1e-3", *flags]


def test_run_folder_holds_everything_and_a_rerun_skips(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    report = train.main(train_args(data, run, "--epochs", "2"))
    for name in ("model.keras", "dic.txt", "args.json", "split.csv", "history.csv", "thresholds.csv"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists() and not (run / "best.keras").exists()
    history = read_csv(run / "history.csv")
    assert [r["epoch"] for r in history] == ["0", "1"]
    assert {"loss", "val_loss", "val_pr_auc", "val_f1", "learning_rate", "seconds"} <= set(history[0])
    assert [r["tag"] for r in read_csv(run / "thresholds.csv")] == list(SHAPE_TAGS)
    events = [p for p in (run / "logs").rglob("events.out.tfevents.*")]
    assert {p.parent.name for p in events} >= {"train", "validation", "images"}
    split = {r["id"]: r["split"] for r in read_csv(run / "split.csv")}
    assert len(split) == 60  # the default 80/10/10 split by id
    assert list(split.values()).count("val") == 6 and list(split.values()).count("test") == 6
    assert 0 <= report["map"] <= 1
    capsys.readouterr()
    assert train.main(train_args(data, run, "--epochs", "2")) is None
    assert "already trained" in capsys.readouterr().out


def test_split_is_by_id_deterministic_and_disjoint():
    ids = np.arange(1000, 1100)
    a, b = split_ids(ids, 0.2, 0.1, seed=3), split_ids(ids[::-1], 0.2, 0.1, seed=3)
    assert a == b and set(a) == set(ids.tolist())
    assert list(a.values()).count("val") == 20 and list(a.values()).count("test") == 10
    assert split_ids(ids, 0.2, 0.1, seed=4) != a


def test_softmax_makes_one_sample_per_tag_folder_entry(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=8)
    os.unlink(data / "anime_images" / "circle" / "1.jpg")  # capped out of one folder only
    examples = load_examples(data, list(SHAPE_TAGS))
    assert len(examples.ids) == 8
    assert examples.labels[0].tolist() == [0, 1, 1, 0]  # id 1 keeps both of its tags
    paths, targets = sample_table(examples, "softmax")
    assert len(paths) == 15 and (targets.sum(axis=1) == 1).all()
    paths, targets = sample_table(examples, "bce")
    assert len(paths) == 8 and targets.sum() == 16


def test_the_original_method_is_still_there(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=24)
    run = tmp_path / "runs" / "s"
    train.main(train_args(data, run, "--epochs", "1", "--model", "seed_cnn", "--loss", "softmax",
                          "--schedule", "constant", "--warmup-epochs", "0", "--shift", "0"))
    assert "val_accuracy" in read_csv(run / "history.csv")[0]
    from tagger.infer.keras_run import load_run
    model = load_run(run).model
    assert model.name == "seed_cnn" and model.get_layer("scores").activation.__name__ == "softmax"


def test_changed_settings_are_refused(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data", n=12)
    run = tmp_path / "runs" / "r"
    (run).mkdir(parents=True)
    train.main(train_args(data, run, "--epochs", "1"))
    with pytest.raises(SystemExit):
        (run / "checkpoints").mkdir()  # as if interrupted
        train.main(train_args(data, run, "--epochs", "1", "--lr", "0.5"))
    assert "other settings (lr)" in capsys.readouterr().err
    train.main(train_args(data, run, "--epochs", "1", "--overwrite"))
    assert list(tmp_path.glob("runs/r.replaced-*"))


def test_killed_training_resumes_from_its_last_epoch(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=40)
    run = tmp_path / "runs" / "k"
    cmd = [sys.executable, str(ROOT / "train.py"), *train_args(data, run, "--epochs", "6",
                                                               "--patience", "0")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run / "history.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 3:  # 2 epochs done
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(history.read_text().splitlines()) - 1
    assert 2 <= done < 6, "the kill should land mid-run"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "resuming after epoch" in out
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(history))]
    assert epochs == list(range(6))
    assert (run / "model.keras").exists() and not (run / "checkpoints").exists()


def test_asymmetric_loss_down_weights_easy_negatives():
    from tagger.train.recipe import AsymmetricLoss

    loss = AsymmetricLoss(gamma_neg=4.0, gamma_pos=0.0, clip=0.05)
    y = np.array([[1.0, 0.0, 0.0]])
    # positive at 0.9 costs -log 0.9; negative at 0.03 is clipped to 0 (free);
    # negative at 0.5 costs 0.45**4 * -log(0.55)
    expected = -np.log(0.9) + 0.45 ** 4 * -np.log(0.55)
    got = float(loss(y, np.array([[0.9, 0.03, 0.5]])))
    assert abs(got - expected) < 1e-5
    bce_like = AsymmetricLoss(gamma_neg=0.0, gamma_pos=0.0, clip=0.0)
    assert abs(float(bce_like(y, np.array([[0.9, 0.2, 0.5]]))) -
               -(np.log(0.9) + np.log(0.8) + np.log(0.5))) < 1e-5


def test_asl_run_saves_and_reloads(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=12)
    run = tmp_path / "runs" / "a"
    train.main(train_args(data, run, "--epochs", "1", "--loss", "asl", "--model", "resnet",
                          "--schedule", "cosine", "--warmup-epochs", "0.5"))
    # test.py in a fresh process, where nothing has imported the custom loss
    done = subprocess.run([sys.executable, str(ROOT / "test.py"), "--run", str(run), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "eval" / "report.json").is_file()


def test_a_tag_without_training_positives_is_refused_by_name(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data", n=12)
    (data / "dic.txt").write_text("".join(t + "\n" for t in SHAPE_TAGS) + "hat\n")  # not dealt
    run = tmp_path / "runs" / "r"
    with pytest.raises(SystemExit) as exc:
        train.main(train_args(data, run, "--epochs", "1"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "1 of 5 dictionary tags" in err and ": hat." in err
    assert "deal.py" in err and "--allow-empty-tags" in err
    assert not run.exists()  # nothing recorded: the next attempt is not refused
    train.main(train_args(data, run, "--epochs", "1", "--allow-empty-tags"))
    assert "warning" in capsys.readouterr().err and (run / "model.keras").is_file()


def test_a_failed_attempt_records_nothing_that_blocks_the_next(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dic.txt").write_text("".join(t + "\n" for t in SHAPE_TAGS))
    run = tmp_path / "runs" / "r"
    with pytest.raises(SystemExit) as exc:  # nothing dealt yet
        train.main(train_args(data, run, "--epochs", "1", "--lr", "0.5"))
    assert exc.value.code == 2 and "deal.py" in capsys.readouterr().err
    assert not (run / "args.json").exists()
    make_shapes_data(data, n=12)
    train.main(train_args(data, run, "--epochs", "1"))  # other settings, not refused
    assert (run / "model.keras").is_file()


def test_each_epoch_shows_a_bar_then_one_short_line(tmp_path):
    """In a terminal: the bar moves inside the epoch (batches, images/s, running loss), then
    the epoch ends in one line of the numbers a person reads."""
    from terminal import Terminal

    data = make_shapes_data(tmp_path / "data", n=100)  # 80 batches of one image
    with Terminal("train.py", *train_args(data, tmp_path / "r", "--epochs", "1",
                                          "--batch-size", "1")) as term:
        assert term.wait(180) == 0, term.output
    out = re.sub(r"\r *\r", "\n", term.output.replace("\r\n", "\n"))  # a cleared bar
    summary = re.search(r"^epoch 1/1: loss [\d.]+, val loss [\d.]+, val PR-AUC [\d.]+, "
                        r"val F1 [\d.]+ \([\d.]+ s, [\d,]+ images/s\)$", out, re.M)
    assert summary, out
    before = out[:summary.start()]
    drawn = re.findall(r"epoch 1/1:\s+\d+%[^\r\n]*?\| *(\d+)/80 [^\r\n]*?images/s, loss [\d.]+",
                       before)
    assert len(set(drawn)) > 2, out  # moving within the epoch, before its line
    assert "learning_rate" not in out and "trained 1 epoch in" in out


def test_a_data_folder_that_does_not_exist_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        train.main(train_args(tmp_path / "dat", tmp_path / "r"))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"the data folder {tmp_path / 'dat'} does not exist; check --data-dir" in err
    assert "set_dic.py" not in err and not (tmp_path / "r").exists()


def test_a_finished_run_asked_for_other_settings_is_refused_in_one_line(tmp_path, capsys):
    data = make_shapes_data(tmp_path / "data", n=12)
    run = tmp_path / "runs" / "r"
    train.main(train_args(data, run, "--epochs", "1"))
    capsys.readouterr()
    for flags in (["--lr", "0.5"], ["--epochs", "3"]):
        with pytest.raises(SystemExit) as stopped:
            train.main(train_args(data, run, "--epochs", "1", *flags))
        assert stopped.value.code == 2
        out, err = capsys.readouterr()
        assert not out and len(err.splitlines()) == 1, err
        assert f"{run} is already trained, with other settings ({flags[0][2:]})" in err
    train.main(train_args(data, run, "--epochs", "1", "--cache-mb", "0"))  # how, not what
    assert "is already trained" in capsys.readouterr().out


def test_help_keeps_the_examples_line_continuations(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    out = capsys.readouterr().out
    assert "--model seed_cnn --loss softmax --lr 1e-4 \\\n" in out


def test_quiet_draws_no_bar_in_a_terminal(tmp_path):
    from terminal import Terminal

    data = make_shapes_data(tmp_path / "data", n=12)
    with Terminal("train.py", *train_args(data, tmp_path / "r", "--epochs", "1", "--quiet")) as term:
        assert term.wait(180) == 0, term.output
    assert "%|" not in term.output and re.search(r"^epoch 1/1: loss ", term.output, re.M)


def test_the_memory_estimate_before_caching_says_where_images_are_read_from():
    from tagger.train.dataset import cache_line

    assert cache_line(2400, 80, 2048, False) == (
        "2,400 images at 80x80 take about 44 MiB decoded: cached in memory (--cache-mb 2,048)")
    big = cache_line(3_000_000, 448, 2048, True)
    assert big.startswith("3,000,000 images at 448x448 take about 1,682.3 GiB decoded, more than")
    assert big.endswith("read from TFRecord shards")
