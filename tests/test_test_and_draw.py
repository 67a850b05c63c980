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
from conftest import SHAPE_TAGS, read_csv, shape_image, write_csv
from tagger.core.render import label_font_size


def test_test_py_scores_the_held_out_test_split(trained, capsys):
    data, run = trained
    report = test_script.main(["--run", str(run), "--min-common", "1", "--max-tags", "2"])
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
    draw.main([str(pics), "--run", str(run), "--out", str(out), "--threshold", "0", "--max-tags", "2", "--caption",
               "--json", "--workers", "0"])
    printed = capsys.readouterr().out
    assert "a.png: " in printed and "screen.png: " in printed
    assert sorted(os.listdir(out)) == ["a.json", "a.txt", "a_tags.png", "sub"]  # mirrored
    assert sorted(os.listdir(out / "sub")) == ["screen.json", "screen.txt", "screen_tags.png"]
    small = Image.open(out / "a_tags.png")
    assert min(small.size) >= 400  # a thumbnail is enlarged so its tags are readable
    assert Image.open(out / "sub" / "screen_tags.png").size == (1600, 900)  # --max-side 1600
    assert label_font_size((1600, 900)) >= 20
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
    draw.main([str(pic), "--run", str(run), "--out", str(tmp_path / "d"), "--threshold", "1",
               "--caption", "--workers", "0"])
    assert (tmp_path / "d" / "x.txt").read_text() == "\n"  # nothing scores 1 (a sigmoid stays below)
    with pytest.raises(SystemExit):
        draw.main([str(pic), "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "e")])
    assert "nope: not a tagger (no such folder)" in capsys.readouterr().err


def test_draw_default_is_the_tuned_thresholds_not_the_top_6(trained, tmp_path):
    _, run = trained
    pic = tmp_path / "in" / "x.png"
    pic.parent.mkdir()
    pic.write_bytes(shape_image(np.random.default_rng(2), "red", "square", 64))
    draw.main([str(pic.parent), "--run", str(run), "--out", str(tmp_path / "d"), "--caption",
               "--json", "--workers", "0", "--quiet"])
    caption = (tmp_path / "d" / "x.txt").read_text().strip().split(", ")
    scores = json.loads((tmp_path / "d" / "x.json").read_text())
    tuned = {r["tag"]: float(r["threshold"]) for r in read_csv(run / "thresholds.csv")}
    assert caption == sorted((t for t in scores if scores[t] >= tuned[t]), key=lambda t: -scores[t])
    assert set(caption) == {"red_background", "square"}  # 2 tags, not 4 of 4


def test_draw_mirrors_folders_and_never_draws_its_own_outputs(trained, tmp_path, capsys):
    _, run = trained
    rng = np.random.default_rng(3)
    for folder in ("a", "b"):
        (tmp_path / "pics" / folder).mkdir(parents=True)
        (tmp_path / "pics" / folder / "x.jpg").write_bytes(shape_image(rng, "blue", "circle", 64))
    (tmp_path / "pics" / "a" / "x.png").write_bytes(shape_image(rng, "red", "square", 64))
    (tmp_path / "pics" / "frame.0001.png").write_bytes(shape_image(rng, "red", "circle", 64))
    (tmp_path / "pics" / "frame.0002.png").write_bytes(shape_image(rng, "blue", "square", 64))
    out = tmp_path / "pics" / "drawn"  # inside the input
    args = [str(tmp_path / "pics" / "a"), str(tmp_path / "pics" / "b"),
            str(tmp_path / "pics" / "frame.0001.png"), str(tmp_path / "pics" / "frame.0002.png"),
            "--run", str(run), "--out", str(out), "--caption", "--workers", "1", "--quiet"]
    draw.main(args)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a/x.jpg.txt", "a/x.jpg_tags.png", "a/x.png.txt", "a/x.png_tags.png",
                       "b/x.txt", "b/x_tags.png", "frame.0001.txt", "frame.0001_tags.png",
                       "frame.0002.txt", "frame.0002_tags.png"]
    assert "red_background" in (out / "a" / "x.png.txt").read_text()
    assert "blue_background" in (out / "a" / "x.jpg.txt").read_text()
    assert "red_background" in (out / "frame.0001.txt").read_text()
    assert "blue_background" in (out / "frame.0002.txt").read_text()
    assert "2 named after their whole file name" in capsys.readouterr().out
    draw.main([str(tmp_path / "pics"), "--run", str(run), "--out", str(out), "--workers", "0",
               "--quiet"])  # the whole folder, --out inside it: its drawings are not inputs
    assert not list(out.rglob("*_tags_tags.png"))
    assert (out / "a" / "x.png_tags.png").exists() and not (out / "drawn").exists()
    with pytest.raises(SystemExit):
        draw.main([str(tmp_path / "pics"), "--run", str(run), "--out", str(tmp_path / "pics")])
    assert "is, or holds, the input folder" in capsys.readouterr().err


def test_draw_max_side_caps_the_drawn_picture(trained, tmp_path):
    _, run = trained
    big = tmp_path / "in" / "big.jpg"
    big.parent.mkdir()
    Image.new("RGB", (4000, 3000), (200, 40, 40)).save(big, quality=90)
    draw.main([str(big), "--run", str(run), "--out", str(tmp_path / "d"), "--max-side", "1200",
               "--workers", "0", "--quiet"])
    assert Image.open(tmp_path / "d" / "big_tags.png").size == (1200, 900)  # tags drawn onto
