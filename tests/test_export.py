"""export.py: every format against the Keras model, the WD14 contract, folded thresholds."""
import csv
import io
import re

import numpy as np
import pytest
from PIL import Image

import export
from conftest import EXPORT_RUN_SIZE as RUN_SIZE
from conftest import SHAPE_TAGS, shape_image
from tagger.export import build as exporting
from tagger.export.formats import RUNNERS
from tagger.export.graph import (RATING_TAGS, WD14_SIZE, area_matrix, bicubic_matrix,
                                  folded_bias_shift)
from tagger.core.images import prepare
from tagger.infer.onnx_run import open_onnx, read_selected_tags
from tagger.infer.keras_run import load_run


def odd_pictures(folder):
    """Pictures the tools meet: odd sizes, transparency, greyscale, palette, tiny."""
    rng = np.random.default_rng(3)
    folder.mkdir(exist_ok=True)
    (folder / "odd.png").write_bytes(shape_image(rng, "red", "circle", 37))
    Image.open(io.BytesIO(shape_image(rng, "blue", "square", 101))).crop((0, 0, 101, 57)).save(
        folder / "wide.jpg", quality=90)
    clear = Image.new("RGBA", (64, 90), (40, 40, 200, 255))
    clear.paste((0, 0, 0, 0), (10, 10, 50, 50))
    clear.save(folder / "transparent.png")
    Image.open(io.BytesIO(shape_image(rng, "red", "square", 50))).convert("L").save(
        folder / "grey.png")
    Image.open(io.BytesIO(shape_image(rng, "blue", "circle", 48))).convert("P").save(
        folder / "palette.gif")
    Image.new("RGB", (1, 1), (200, 40, 40)).save(folder / "tiny.png")
    return sorted(folder.iterdir())


def matrix_resize(pictures, size, matrix=area_matrix):
    """NumPy reference: (n, 448, 448, 3) pictures resized to size by a one-axis weight matrix."""
    a = matrix(pictures.shape[1], size)
    channels_first = np.transpose(pictures.astype(np.float64), (0, 3, 1, 2))
    return np.transpose(a @ channels_first @ a.T, (0, 2, 3, 1))


def test_area_matrix_is_the_exact_area_average():
    rng = np.random.default_rng(0)
    picture = rng.uniform(0, 255, (1, 448, 448, 3))
    blocks = picture.reshape(1, 64, 7, 64, 7, 3).mean(axis=(2, 4))  # 448 = 64 x 7
    assert np.allclose(matrix_resize(picture, 64), blocks, atol=1e-9)
    row = rng.uniform(0, 255, 448)
    # along one axis, 448 -> 30 is the mean of 448-wide blocks of each pixel repeated 30 times
    reference = np.repeat(row, 30).reshape(30, 448).mean(axis=1)
    assert np.allclose(area_matrix(448, 30) @ row, reference, atol=1e-9)
    assert np.allclose(area_matrix(448, 30).sum(axis=1), 1)


def test_bicubic_matrix_is_pillows_bicubic_resize():
    channel = np.random.default_rng(1).uniform(0, 255, (448, 448)).astype(np.float32)
    pillow = np.asarray(Image.fromarray(channel, "F").resize((30, 30), Image.Resampling.BICUBIC))
    b = bicubic_matrix(448, 30)
    assert np.max(np.abs(b @ channel.astype(np.float64) @ b.T - pillow)) < 1e-3


def test_wd14_export_matches_keras_on_pictures_fed_as_the_tools_feed_them(exported, tmp_path):
    run_path, root = exported
    run = load_run(run_path)
    pictures = np.stack([prepare(p, WD14_SIZE, "pad") for p in odd_pictures(tmp_path)])
    bgr = pictures[..., ::-1].astype(np.float32)
    probabilities, embedding = RUNNERS["wd14"](root / "wd14" / "model.onnx")(bgr)
    assert probabilities.shape == (len(pictures), 4 + len(SHAPE_TAGS))
    assert np.all(probabilities[:, :4] == 0)  # the rating pseudo-tags, skipped by position
    expected = run.model(matrix_resize(pictures, RUN_SIZE).astype(np.float32)).numpy()
    assert np.max(np.abs(probabilities[:, 4:] - expected)) < 1e-4
    assert embedding.shape[0] == len(pictures) and embedding.ndim == 2
    # the same folder through tagger.infer.onnx_run, fed RGB, sees only the tags
    tagger = open_onnx(root / "wd14")
    assert (tagger.image_size, tagger.fit, tagger.tags) == (448, "wd", list(SHAPE_TAGS))  # as kohya
    assert np.max(np.abs(tagger.predict(pictures) - expected)) < 1e-4


def test_onnx_export_matches_keras_on_odd_transparent_grey_and_tiny_pictures(exported, tmp_path):
    run_path, root = exported
    run = load_run(run_path)
    pictures = np.stack([prepare(p, RUN_SIZE, run.fit) for p in odd_pictures(tmp_path)])
    tagger = open_onnx(root / "onnx")
    assert (tagger.image_size, tagger.tags) == (RUN_SIZE, run.tags)
    assert np.array_equal(tagger.thresholds, run.thresholds)
    assert np.max(np.abs(tagger.predict(pictures, batch_size=4) - run.predict(pictures))) < 1e-4
    assert open_onnx(root / "onnx" / "model.onnx").tags == run.tags  # --model FILE.onnx


def test_litert_and_saved_model_match_keras(exported, tmp_path):
    run_path, root = exported
    run = load_run(run_path)
    pictures = np.stack([prepare(p, RUN_SIZE, run.fit) for p in odd_pictures(tmp_path)])
    expected = run.predict(pictures)
    tflite = RUNNERS["litert"](root / "litert" / "model.tflite")(pictures.astype(np.float32))
    served = RUNNERS["saved_model"](root / "saved_model" / "1")(pictures.astype(np.float32))
    assert np.max(np.abs(tflite[0] - expected)) < 1e-4
    assert np.max(np.abs(served[0] - expected)) < 1e-4
    for name in ("dic.txt", "thresholds.csv", "export.json"):
        assert (root / "litert" / name).is_file() and (root / "saved_model" / name).is_file()


def test_selected_tags_csv_reads_back_as_the_tools_read_it(exported, tmp_path):
    _, root = exported
    with open(root / "wd14" / "selected_tags.csv", encoding="utf-8") as f:  # kohya's way
        rows = list(csv.reader(f))
    assert rows[0] == ["tag_id", "name", "category", "count"]
    assert [r[1] for r in rows[1:] if r[2] == "9"] == list(RATING_TAGS)
    assert [r[1] for r in rows[1:] if r[2] == "0"] == list(SHAPE_TAGS)
    strange = ["a,b", 'say "hi"', "o'clock", ":d", "tag_(series)"]
    exporting.write_selected_tags(tmp_path / "s.csv", strange, {"a,b": 12})
    names, categories = read_selected_tags(tmp_path / "s.csv")
    assert names == list(RATING_TAGS) + strange and categories == ["9"] * 4 + ["0"] * 5
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as f:
        assert next(r for r in csv.DictReader(f) if r["name"] == "a,b")["count"] == "12"


def test_folded_thresholds_select_exactly_the_tuned_tags(exported):
    run_path, root = exported
    run = load_run(run_path)
    rng = np.random.default_rng(11)
    pictures = np.stack([
        prepare(shape_image(rng, ("red", "blue")[i % 2], ("circle", "square")[i // 2 % 2], 64),
                WD14_SIZE, "pad") for i in range(24)])
    # the export's default resize is Pillow's bicubic: the Keras run on the same resize
    resized = matrix_resize(pictures, RUN_SIZE, bicubic_matrix).astype(np.float32)
    plain = run.model(resized).numpy().astype(np.float64)
    folded = open_onnx(root / "wd14_tuned")
    assert np.all(folded.thresholds == 0.35)
    folded_scores = folded.predict(pictures)
    shift = folded_bias_shift(run.thresholds, 0.35)
    expected = 1 / (1 + np.exp(-(np.log(plain) - np.log1p(-plain) + shift)))
    assert np.max(np.abs(folded_scores - expected)) < 1e-4
    tuned = plain >= run.thresholds
    clear = np.abs(plain - run.thresholds) > 1e-6  # float rounding may flip an exact tie
    assert clear.mean() > 0.99 and 0 < tuned.sum() < tuned.size
    assert np.array_equal((folded_scores >= 0.35)[clear], tuned[clear])


def test_export_refuses_to_replace_then_moves_aside_and_never_writes_a_bad_one(
        exported, capsys, monkeypatch):
    run_path, root = exported
    out = root / "onnx"
    before = (out / "model.onnx").read_bytes()
    with pytest.raises(SystemExit):
        export.main(["--run", str(run_path), "--format", "onnx", "--out", str(out)])
    assert "--overwrite" in capsys.readouterr().err
    monkeypatch.setattr(exporting, "MAX_DIFF", 0.0)  # no export can pass: it must not land
    with pytest.raises(SystemExit):
        export.main(["--run", str(run_path), "--format", "onnx", "--out", str(out), "--overwrite"])
    assert "was not written" in capsys.readouterr().err
    assert (out / "model.onnx").read_bytes() == before and not (root / "replaced").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary left
    monkeypatch.undo()
    result = export.main(["--run", str(run_path), "--format", "onnx", "--out", str(out), "--overwrite"])
    assert result.replaced == root / "replaced" / "onnx"
    assert (result.replaced / "model.onnx").read_bytes() == before
    assert "max difference from Keras" in capsys.readouterr().out


def test_tuned_thresholds_only_fold_into_wd14(exported, capsys):
    run_path, root = exported
    with pytest.raises(SystemExit):
        export.main(["--run", str(run_path), "--format", "onnx", "--tuned",
                     "--out", str(root / "nope")])
    assert "thresholds.csv" in capsys.readouterr().err and not (root / "nope").exists()


def test_export_shows_its_steps_in_a_terminal_and_no_tensorflow_line(exported, tmp_path):
    """In a terminal: a bar that names each step while it runs, then the one summary line."""
    from terminal import Terminal

    run, _ = exported
    with Terminal("export.py", "--run", run, "--format", "onnx", "--out", tmp_path / "o") as term:
        assert term.wait(180) == 0, term.output
    out = term.output
    named = re.findall(r"export:[^\r\n]*?(\d)/(\d) [^\r\n]*?, ([a-z][A-Za-z ]+)\]", out)
    order = list(dict.fromkeys(name for *_, name in named))
    assert order == ["loading TensorFlow", "loading the run", "building the graph",
                     "converting", "checking against Keras", "writing"], out
    assert ("5", "5") in {(n, total) for n, total, _ in named}  # it ends full
    assert "exported" in out.splitlines()[-1]
    assert "I0000" not in out and "cuda" not in out.lower()
