"""test.py and draw.py on a small trained run."""
import json
import os

import numpy as np
import pytest
from PIL import Image

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


def test_test_py_scores_csv_rows_not_trained_on(trained, tmp_path):
    data, run = trained
    train_id = next(r["id"] for r in read_csv(run / "split.csv") if r["split"] == "train")
    rng = np.random.default_rng(5)
    (data / "images" / "9001.png").write_bytes(shape_image(rng, "red", "circle", 64))
    write_csv(tmp_path / "new.csv", [{"id": 9001, "tags": "red_background circle"},
                                     {"id": int(train_id), "tags": "circle"},
                                     {"id": 9002, "tags": "circle"}])  # not downloaded
    report = test_script.main(["--run", str(run), "--csv", str(tmp_path / "new.csv"),
                               "--min-common", "0", "--quiet"])
    assert report["images"] == 1
    rows = read_csv(run / "eval" / "predictions.csv")
    assert rows[0]["id"] == "9001" and rows[0]["true_tags"] == "red_background circle"


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
