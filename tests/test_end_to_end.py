"""All seven scripts in order on generated data served over HTTP: training must learn."""
import io
import json

import numpy as np
from PIL import Image, ImageDraw

import check
import deal
import download
import draw
import set_dic
import test as test_script
import train
from conftest import Reply, write_csv

COLOURS = {"red_background": (200, 40, 40), "green_background": (40, 170, 60),
           "blue_background": (40, 60, 200), "yellow_background": (220, 200, 40)}
SHAPES = ("circle", "square", "triangle")


def picture(rng, colour, shape, size=64):
    """A coloured background with one white shape at a random place and size."""
    img = Image.new("RGB", (size, size), COLOURS[colour])
    pen = ImageDraw.Draw(img)
    r = int(rng.integers(size // 4, size // 3 + 1))
    x, y = (int(v) for v in rng.integers(r, size - r, 2))
    if shape == "circle":
        pen.ellipse((x - r, y - r, x + r, y + r), fill="white")
    elif shape == "square":
        pen.rectangle((x - r, y - r, x + r, y + r), fill="white")
    else:
        pen.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill="white")
    buf = io.BytesIO()
    img.save(buf, "PNG" if rng.random() < 0.5 else "JPEG")
    return buf.getvalue()


def test_pipeline_learns_far_beyond_chance(server, tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(1, 401):
        colour, shape = list(COLOURS)[i % 4], SHAPES[(i // 4) % 3]
        url = server.route(f"/t/{i}", Reply(200, picture(rng, colour, shape)))
        rows.append({"id": i, "url": url, "tags": f"{colour} {shape}"})
    data, run = tmp_path / "data", tmp_path / "runs" / "e2e"
    write_csv(data / "all_data.csv", rows)
    d = ["--data-dir", str(data)]
    assert download.main([*d, "--limit", "0"])["downloaded"] == 400
    assert len(set_dic.main([*d, "--min-count", "10"])) == 7
    deal.main([*d, "--limit", "0", "--image-size", "40"])
    check.main(d)
    train.main([*d, "--run", str(run), "--epochs", "15", "--batch-size", "32", "--patience", "0"])
    capsys.readouterr()
    report = test_script.main(["--run", str(run), "--min-common", "1", "--max-tags", "2"])
    # chance: a tag's AP is its frequency, so random scores give about
    # (4 x 1/4 + 3 x 1/3) / 7 = 0.29 mAP; the model must be far better
    y = np.array([[t in r["tags"].split() for t in (*COLOURS, *SHAPES)] for r in rows])
    chance = y.mean(axis=0).mean()
    assert chance < 0.3
    assert report["map"] >= 0.8, report["map"]
    assert report["top_k_protocol"] >= 0.4  # two tags, 0.25 each: 0.5 is perfect
    new = tmp_path / "new.png"
    new.write_bytes(picture(np.random.default_rng(99), "blue_background", "square", 200))
    draw.main([str(new), "--run", str(run), "--out", str(tmp_path / "drawn"), "--threshold", "0", "--max-tags", "2",
               "--caption"])
    assert "blue_background" in (tmp_path / "drawn" / "new.txt").read_text()
    assert json.loads((run / "eval" / "report.json").read_text())["map"] == report["map"]


def test_demo_runs_every_stage_and_says_where_results_are(tmp_path, capsys):
    import demo

    out = tmp_path / "demo"
    demo.main(["--out", str(out), "--posts", "60", "--epochs", "1", "--image-size", "32"])
    text = capsys.readouterr().out
    for script in ("download.py", "set_dic.py", "deal.py", "check.py", "train.py", "test.py",
                   "draw.py"):
        assert f"$ python {script}" in text
    for path in ("data/all_data.csv", "runs/demo/model.keras", "runs/demo/eval/report.json",
                 "runs/demo/eval/pie.png", "drawn/fresh_character_tags.png",
                 "drawn/fresh_character.txt"):
        assert (out / path).is_file(), path
    assert "tensorboard --logdir" in text and "the fresh character is drawn with:" in text
    assert len(list((out / "data" / "images").iterdir())) == 60  # downloaded over HTTP


def test_demo_never_replaces_an_earlier_demo_unasked(tmp_path, capsys):
    import pytest

    import demo

    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit):
        demo.main(["--out", str(tmp_path / "demo")])
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "demo" / "mine.txt").read_text() == "keep"
