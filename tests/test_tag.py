"""tag.py: captions beside pictures in kohya-ss conventions, on the small trained run."""
import csv
import json

import numpy as np
import pytest

import tag
from tagger.infer import session
from conftest import SHAPE_TAGS, shape_image

PICTURES = {"a.png": ("red", "circle"), "b.png": ("blue", "square"),
            "sub/c.png": ("red", "square"), "sub/d.png": ("blue", "circle")}


@pytest.fixture
def pics(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "pics"
    for name, (colour, shape) in PICTURES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(shape_image(rng, colour, shape, 64))
    return folder


def caption(path):
    return path.read_text(encoding="utf-8")


def tag_main(pics, run, *extra):
    return tag.main([str(pics), "--run", str(run), "--workers", "0", "--quiet", *extra])


def test_captions_beside_each_picture_with_the_tuned_thresholds(trained, pics, capsys):
    _, run = trained
    result = tag_main(pics, run)
    for name, (colour, shape) in PICTURES.items():
        text = caption((pics / name).with_suffix(".txt"))
        assert text.endswith("\n") and set(text.strip().split(", ")) == {f"{colour}_background",
                                                                          shape}
    out = capsys.readouterr().out
    assert "captioned 4 pictures" in out
    table = out[out.index("tag "):].splitlines()
    assert table[0].split()[:3] == ["tag", "pictures", "share"] and len(table) >= 5
    assert result["counts"]["circle"] == 2 and result["tagged"] == 4


def test_caption_flags_follow_kohya(trained, pics):
    _, run = trained
    tag_main(pics, run, "--caption-extension", ".caption", "--separator", " | ",
             "--remove-underscore", "--undesired-tags", "circle", "--always-first-tags",
             "square | blue background")
    assert caption(pics / "a.caption") == "red background\n"  # circle left out
    assert caption(pics / "b.caption") == "square | blue background\n"  # in the order given
    assert not list(pics.rglob("*.txt"))
    tag_main(pics, run, "--threshold", "0", "--max-tags", "3", "--overwrite")
    assert len(caption(pics / "a.txt").split(", ")) == 3
    tag_main(pics, run, "--threshold", "1", "--overwrite")  # a sigmoid stays below 1
    assert caption(pics / "a.txt") == "\n"


def test_skips_captioned_pictures_unless_overwrite_and_appends_without_duplicates(trained, pics,
                                                                                  capsys):
    _, run = trained
    (pics / "a.txt").write_text("my own words, circle\n", encoding="utf-8")
    tag_main(pics, run)
    assert caption(pics / "a.txt") == "my own words, circle\n"  # never replaced
    assert "captioned 3 pictures" in capsys.readouterr().out
    tag_main(pics, run, "--append")
    assert caption(pics / "a.txt") == "my own words, circle, red_background\n"
    capsys.readouterr()
    tag_main(pics, run, "--append")  # again: nothing added twice, and none counted as written
    assert caption(pics / "a.txt") == "my own words, circle, red_background\n"
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("captioned 0 pictures") and "4 already held every tag" in summary
    assert "--overwrite or --append" not in summary
    assert caption(pics / "b.txt").count("square") == 1
    tag_main(pics, run, "--overwrite")
    assert set(caption(pics / "a.txt").strip().split(", ")) == {"red_background", "circle"}


def test_clashing_stems_and_dotted_names_never_overwrite_each_other(trained, tmp_path, capsys):
    _, run = trained
    rng = np.random.default_rng(6)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "x.png").write_bytes(shape_image(rng, "red", "circle", 64))
    (folder / "x.jpg").write_bytes(shape_image(rng, "blue", "square", 64))  # PNG bytes: fine
    for i, colour in enumerate(("red", "blue", "red"), start=1):
        (folder / f"frame.000{i}.png").write_bytes(shape_image(rng, colour, "square", 64))
    tag_main(folder, run)
    assert sorted(p.name for p in folder.glob("*.txt")) == [
        "frame.0001.txt", "frame.0002.txt", "frame.0003.txt", "x.jpg.txt", "x.png.txt"]
    assert "red_background" in caption(folder / "frame.0001.txt")
    assert "blue_background" in caption(folder / "frame.0002.txt")
    assert "red_background" in caption(folder / "x.png.txt")
    assert "blue_background" in caption(folder / "x.jpg.txt")
    out = capsys.readouterr().out
    assert "x.png: shares its stem" in out and "2 named after their whole file name" in out


def test_scores_csv_and_jsonl_hold_every_tag_of_every_picture(trained, pics):
    _, run = trained
    tag_main(pics, run, "--scores", str(pics / "scores.csv"))
    with open(pics / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and set(rows[0]) == {"image", *SHAPE_TAGS}
    red = next(r for r in rows if r["image"].endswith("a.png"))
    assert float(red["red_background"]) > 0.5 > float(red["blue_background"])
    tag_main(pics, run, "--scores", str(pics / "scores.jsonl"))  # captions exist: scores only
    lines = [json.loads(line) for line in (pics / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and set(lines[0]["scores"]) == set(SHAPE_TAGS)
    with pytest.raises(SystemExit):
        tag_main(pics, run, "--scores", str(pics / "scores.tsv"))


def test_a_killed_run_finishes_the_rest_when_started_again(trained, pics, monkeypatch, capsys):
    _, run = trained
    real_load = session.open_tagger
    calls = []

    def killed_after_one_batch(path, *device):
        tagger = real_load(path, *device)
        predict = tagger.predict

        def interrupted(arrays, batch_size=256):
            calls.append(len(arrays))
            if len(calls) > 1:
                raise KeyboardInterrupt
            return predict(arrays, batch_size)

        monkeypatch.setattr(tagger, "predict", interrupted)
        return tagger

    monkeypatch.setattr(session, "open_tagger", killed_after_one_batch)
    scores = pics / "scores.csv"
    with pytest.raises(SystemExit) as stopped:
        tag_main(pics, run, "--batch-size", "2", "--scores", str(scores))
    assert stopped.value.code == 130 and "run the same command" in capsys.readouterr().err
    done = sorted(p.name for p in pics.rglob("*.txt"))
    assert done == ["a.txt", "b.txt"]  # the first batch, complete
    with open(scores, "a") as f:
        f.write(str(pics / "sub" / "c.png") + ",0.1")  # a row cut short by a kill
    (pics / "a.txt").write_text("kept\n")
    monkeypatch.setattr(session, "open_tagger", real_load)
    result = tag_main(pics, run, "--batch-size", "2", "--scores", str(scores))
    assert result["tagged"] == 2 and result["skipped"] == 2
    assert caption(pics / "a.txt") == "kept\n"  # captioned before: left alone
    assert sorted(p.name for p in pics.rglob("*.txt")) == ["a.txt", "b.txt", "c.txt", "d.txt"]
    with open(scores, newline="") as f:
        images = [r["image"] for r in csv.DictReader(f)]
    assert sorted(images) == sorted(str(pics / n) for n in PICTURES)  # each once, none cut


def test_unreadable_pictures_are_reported_and_the_rest_captioned(trained, pics, capsys):
    _, run = trained
    (pics / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    result = tag.main([str(pics), "--run", str(run), "--workers", "1", "--quiet"])  # a worker
    out = capsys.readouterr().out
    assert result["tagged"] == 4 and result["failed"] == 1
    assert "broken.jpg: skipped, not a readable picture" in out and "unreadable 1" in out
    assert not (pics / "broken.txt").exists()


def test_bad_flags_are_refused(trained, pics, capsys):
    _, run = trained
    for bad in (["--caption-extension", ".png"], ["--caption-extension", "txt"],
                ["--max-tags", "-1"], ["--batch-size", "0"], ["--threshold", "1.01"]):
        with pytest.raises(SystemExit) as exc:
            tag_main(pics, run, *bad)
        assert exc.value.code == 2
    assert not list(pics.rglob("*.txt"))
    with pytest.raises(SystemExit):
        tag_main(pics / "missing", run)
    assert "no such file or folder" in capsys.readouterr().err
