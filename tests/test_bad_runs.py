"""Bad run folders for test.py and draw.py: a missing or cut-off model.keras, a dic.txt of
another length, no thresholds.csv, images of another size: one clear line, exit 2, nothing
written (no thresholds.csv is a warning where tuned thresholds are a side number)."""
import shutil

import numpy as np
import pytest

import deal
import draw
import test as test_script
import train
from conftest import SHAPE_TAGS, make_downloaded, make_shapes_data, shape_image


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_runs")
    data = make_shapes_data(root / "data", n=20)
    run = root / "runs" / "good"
    train.main(["--data-dir", str(data), "--run", str(run), "--batch-size", "16",
                "--epochs", "1", "--test-fraction", "0.2"])
    picture = root / "picture.png"
    picture.write_bytes(shape_image(np.random.default_rng(1), "red", "circle"))
    return data, run, picture


def broken(run, to, damage):
    shutil.copytree(run, to)
    damage(to)
    return to


def refused(capsys, script, argv):
    with pytest.raises(SystemExit) as stop:
        script.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


DAMAGES = {
    "no model": (lambda r: (r / "model.keras").unlink(), "model.keras not found"),
    "cut-off model": (lambda r: (r / "model.keras").write_bytes(
        (r / "model.keras").read_bytes()[:5000]), "model.keras cannot be read"),
    "longer dictionary": (lambda r: (r / "dic.txt").write_text(
        "".join(f"{t}\n" for t in SHAPE_TAGS) + "hat\n"), "dic.txt has 5 tags but model.keras "
                                                        "outputs 4 scores"),
    "another run's args.json": (lambda r: (r / "args.json").write_text(
        (r / "args.json").read_text().replace('"image_size": 32', '"image_size": 64')),
        "args.json says 64x64 images but model.keras takes 32x32"),
}


@pytest.mark.parametrize("name", DAMAGES)
def test_a_damaged_run_is_one_line_and_nothing_is_written(name, trained, tmp_path, capsys):
    data, run, picture = trained
    damage, says = DAMAGES[name]
    bad = broken(run, tmp_path / "bad", damage)
    out = tmp_path / "drawn"
    assert says in refused(capsys, draw, [str(picture), "--run", str(bad), "--out", str(out)])
    assert says in refused(capsys, test_script, ["--run", str(bad), "--data-dir", str(data)])
    assert not out.exists() and not (bad / "eval").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # no lock, no temporary


def test_without_thresholds_tuned_drawing_is_refused_and_scoring_warns(trained, tmp_path, capsys):
    data, run, picture = trained
    bad = broken(run, tmp_path / "bad", lambda r: (r / "thresholds.csv").unlink())
    out = tmp_path / "drawn"
    err = refused(capsys, draw, [str(picture), "--run", str(bad), "--out", str(out), "--tuned"])
    assert "no thresholds.csv" in err and "--threshold" in err and not out.exists()
    err = refused(capsys, draw, [str(picture), "--run", str(bad), "--out", str(out)])
    assert "no thresholds.csv" in err and not out.exists()  # the default is the tuned ones
    draw.main([str(picture), "--run", str(bad), "--out", str(out), "--threshold", "0", "--max-tags", "6"])
    assert (out / "picture_tags.png").is_file()
    report = test_script.main(["--run", str(bad), "--data-dir", str(data), "--quiet",
                               "--min-common", "1"])
    assert "no thresholds.csv" in capsys.readouterr().err and 0 <= report["map"] <= 1


def test_images_of_another_size_than_the_runs_are_refused(trained, tmp_path, capsys):
    _, run, _ = trained
    other = tmp_path / "other"
    rng = np.random.default_rng(3)
    make_downloaded(other, [(i, "red_background circle", shape_image(rng, "red", "circle"))
                            for i in range(1, 5)], SHAPE_TAGS)
    deal.main(["--data-dir", str(other), "--image-size", "16", "--workers", "1"])
    err = refused(capsys, test_script, ["--run", str(run), "--data-dir", str(other)])
    assert "holds 16x16 images (pad) but" in err and "trained on 32x32" in err
    assert not (run / "eval").exists()
