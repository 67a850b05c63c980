"""test.py and draw.py on a small trained run."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import deal
import draw
import test as test_script
import train
from conftest import SHAPE_TAGS, make_shapes_data, read_csv, shape_image, write_csv
from tagger.render import label_font_size


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    data = make_shapes_data(root / "data", n=160)
    run = root / "runs" / "r"
    train.main(["--data-dir", str(data), "--run", str(run), "--batch-size", "16",
                "--epochs", "15", "--patience", "0"])  # otherwise train.py's default recipe
    return data, run


def test_test_py_scores_the_held_out_test_split(trained, capsys):
    data, run = trained
    report = test_script.main(["--run", str(run), "--min-common", "1", "--top-k", "2"])
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.startswith("ID:")]
    test_ids = {r["id"] for r in read_csv(run / "split.csv") if r["split"] == "test"}
    assert {l.split()[0][3:] for l in lines} == test_ids  # every held-out image, nothing else
    accs = [float(l.split()[1][4:]) for l in lines]
    assert "Total acc:" in out and abs(np.mean(accs) - report["top_k_protocol"]) < 0.01
    assert set(np.round(accs, 2)) <= {0.0, 0.25, 0.5}  # 2 tags each, 0.25 per hit
    assert report["map"] > 0.8  # colours and shapes are easy: it learned
    for name in ("report.json", "predictions.csv", "pie.png", "ap.png", "pr.png"):
        assert (run / "eval" / name).stat().st_size > 0
    saved = json.loads((run / "eval" / "report.json").read_text())
    assert set(saved["per_tag_ap"]) == set(SHAPE_TAGS) and saved["images"] == len(test_ids)
    assert len(read_csv(run / "eval" / "predictions.csv")) == len(test_ids)


def test_test_py_min_common_filters_the_top_k_test(trained, capsys):
    _, run = trained
    report = test_script.main(["--run", str(run), "--quiet"])  # default: more than 15 tags
    assert report["top_k_images"] == 0 and report["top_k_protocol"] is None
    assert "lower --min-common" in capsys.readouterr().out
    assert report["images"] > 0 and report["map"] > 0.8  # the standard metrics still count


def test_test_py_scores_csv_rows_not_trained_on(trained, tmp_path, capsys):
    data, run = trained
    train_id = next(r["id"] for r in read_csv(run / "split.csv") if r["split"] == "train")
    rng = np.random.default_rng(5)
    (data / "images" / "9001.png").write_bytes(shape_image(rng, "red", "circle", 64))
    write_csv(tmp_path / "new.csv", [{"id": 9001, "tags": "red_background circle"},
                                     {"id": int(train_id), "tags": "circle"},
                                     {"id": 9002, "tags": "circle"},  # not downloaded
                                     {"id": 9003, "tags": "   "}])  # a bad row: no tags
    report = test_script.main(["--run", str(run), "--csv", str(tmp_path / "new.csv"),
                               "--min-common", "0", "--quiet"])
    assert report["images"] == 1
    out = capsys.readouterr().out
    assert f"left out 3 rows of {tmp_path / 'new.csv'}: " in out
    assert "1 trained on" in out and "1 bad row" in out
    assert f"1 not downloaded (not in {data / 'images'})" in out
    rows = read_csv(run / "eval" / "predictions.csv")
    assert rows[0]["id"] == "9001" and rows[0]["true_tags"] == "red_background circle"


def test_test_py_on_a_data_folder_without_the_held_out_images_says_so(trained, tmp_path, capsys):
    from conftest import make_downloaded

    other = tmp_path / "other"
    rng = np.random.default_rng(3)
    make_downloaded(other, [(1000 + i, "red_background circle", shape_image(rng, "red", "circle"))
                            for i in range(4)], SHAPE_TAGS)
    deal.main(["--data-dir", str(other), "--image-size", "32", "--workers", "1"])
    _, run = trained
    with pytest.raises(SystemExit) as stop:  # it died inside TensorFlow (ReadTile on float32)
        test_script.main(["--run", str(run), "--data-dir", str(other)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "no held-out images to score: none of the run's 16 test images is among the 4 " \
           f"images of {other}" in err and "--data-dir" in err


def copy_run(run, to, **settings):
    """A copy of the run folder with some recorded settings changed (None: removed)."""
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("eval"))
    recorded = json.loads((to / "args.json").read_text())
    recorded.update(settings)
    recorded = {k: v for k, v in recorded.items() if v is not None}
    (to / "args.json").write_text(json.dumps(recorded))
    return to


def test_test_py_finds_the_data_folder_from_anywhere_or_names_it(trained, tmp_path, monkeypatch,
                                                                  capsys):
    data, run = trained
    monkeypatch.chdir(tmp_path)  # not where the run was trained: no data/ here
    old = copy_run(run, tmp_path / "old", data_dir="data", data_dir_absolute=None)
    with pytest.raises(SystemExit):
        test_script.main(["--run", str(old)])
    err = capsys.readouterr().err
    assert f"{old} was trained on the data folder data, which is not there from {tmp_path}" in err
    assert "pass --data-dir" in err
    # train.py now records where the data folder is, and test.py finds it from here
    new = copy_run(run, tmp_path / "new", data_dir="data", data_dir_absolute=str(data))
    report = test_script.main(["--run", str(new), "--min-common", "1", "--quiet"])
    assert report["images"] == 16
    monkeypatch.chdir(data.parent)
    assert train.parse_args(["--data-dir", "data"]).data_dir_absolute == data


def test_test_py_and_draw_py_on_a_run_without_args_json(trained, tmp_path, capsys):
    _, run = trained
    broken = copy_run(run, tmp_path / "broken")
    (broken / "args.json").unlink()
    pic = tmp_path / "x.png"
    pic.write_bytes(shape_image(np.random.default_rng(1), "red", "circle", 64))
    for main, argv in ((test_script.main, ["--run", str(broken)]),
                       (draw.main, [str(pic), "--run", str(broken)])):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "Errno" not in err
        assert f"{broken} has model.keras but no args.json" in err


def test_draw_writes_legible_pictures_captions_and_scores(trained, tmp_path, capsys):
    _, run = trained
    rng = np.random.default_rng(9)
    pics = tmp_path / "pics"
    (pics / "sub").mkdir(parents=True)
    (pics / "a.png").write_bytes(shape_image(rng, "blue", "square", 100))
    Image.new("RGBA", (3840, 2160), (40, 40, 200, 255)).save(pics / "sub" / "screen.png")
    (pics / "notes.txt").write_text("not a picture")
    out = tmp_path / "drawn"
    draw.main([str(pics), "--run", str(run), "--out", str(out), "--top-k", "2", "--caption",
               "--json"])
    printed = capsys.readouterr().out
    assert "a.png: " in printed and "screen.png: " in printed
    assert sorted(os.listdir(out)) == ["a.json", "a.txt", "a_tags.png", "screen.json",
                                       "screen.txt", "screen_tags.png"]
    small = Image.open(out / "a_tags.png")
    assert min(small.size) >= 400  # a thumbnail is enlarged so its tags are readable
    assert Image.open(out / "screen_tags.png").size == (3840, 2160)
    assert label_font_size((3840, 2160)) >= 40
    caption = (out / "a.txt").read_text().strip().split(", ")
    assert len(caption) == 2 and set(caption) <= set(SHAPE_TAGS)
    assert "blue_background" in caption  # it sees the colour
    scores = json.loads((out / "a.json").read_text())
    assert set(scores) == set(SHAPE_TAGS)
    assert caption[0] == max(scores, key=scores.get)


def test_draw_threshold_and_missing_run(trained, tmp_path, capsys):
    _, run = trained
    pic = tmp_path / "x.png"
    pic.write_bytes(shape_image(np.random.default_rng(1), "red", "circle", 64))
    draw.main([str(pic), "--run", str(run), "--out", str(tmp_path), "--threshold", "1",
               "--caption"])
    assert (tmp_path / "x.txt").read_text() == "\n"  # nothing scores 1 (a sigmoid stays below)
    with pytest.raises(SystemExit):
        draw.main([str(pic), "--run", str(tmp_path / "nope")])
    assert "model.keras not found" in capsys.readouterr().err
