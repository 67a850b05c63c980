"""export.py --quantize int8: smaller, run by tag.py and test.py as any export, scores close to
fp32's, and refused in one line where it cannot be made."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import draw
import export
import tag
import test as test_script
from conftest import read_csv
from tagger.core.images import prepare
from tagger.export.quantize import Int8Plan, quantize_file
from tagger.infer.onnx_run import open_onnx
from tagger.train.dataset import load_examples

CLOSE_MEAN, CLOSE_MAX = 0.01, 0.05  # score differences an int8 export may have from fp32


@pytest.fixture(scope="module")
def int8(trained, tmp_path_factory):
    """The small run's onnx export in fp32 and int8, and its held-out pictures, decoded."""
    data, run = trained
    root = tmp_path_factory.mktemp("int8")
    for name, flags in (("fp32", []), ("int8", ["--quantize", "int8"]),
                        ("wd14_int8", ["--quantize", "int8"])):
        fmt = "wd14" if name.startswith("wd14") else "onnx"
        export.main(["--run", str(run), "--format", fmt, *flags, "--out", str(root / name),
                     "--quiet"])
    split = {int(r["id"]): r["split"] for r in read_csv(run / "split.csv")}
    tagger = open_onnx(root / "fp32")
    examples = load_examples(data, tagger.tags)
    held = [p for i, p in zip(examples.ids, examples.paths) if split[int(i)] != "train"]
    pictures = np.stack([prepare(p, tagger.image_size, tagger.fit) for p in held])
    return root, pictures


def differences(a, b):
    diff = np.abs(a - b)
    return diff.mean(), diff.max()


def test_int8_export_is_smaller_and_scores_close_to_fp32(int8):
    root, pictures = int8
    fp32, quantized = open_onnx(root / "fp32"), open_onnx(root / "int8")
    size = (root / "int8" / "model.onnx").stat().st_size
    assert size < 0.4 * (root / "fp32" / "model.onnx").stat().st_size
    mean, largest = differences(quantized.predict(pictures), fp32.predict(pictures))
    assert mean < CLOSE_MEAN and largest < CLOSE_MAX
    info = json.loads((root / "int8" / "export.json").read_text())
    assert info["quantize"] == "int8" and info["int8"]["bytes"] == size
    assert info["int8"]["calibration_pictures"].startswith("16 validation pictures")
    assert 0 < info["self_check"]["max_abs_diff"] < info["self_check"]["limit"] < 1


def test_a_broken_calibration_fails_the_closeness_asked_of_int8(int8, tmp_path):
    """The tolerance above catches a bad quantisation: ranges read off black pictures."""
    root, pictures = int8
    broken = tmp_path / "broken"
    shutil.copytree(root / "fp32", broken)
    quantize_file(broken / "model.onnx", Int8Plan(np.zeros_like(pictures[:8]), bgr=False))
    mean, largest = differences(open_onnx(broken).predict(pictures),
                                open_onnx(root / "fp32").predict(pictures))
    assert mean > CLOSE_MEAN or largest > CLOSE_MAX


def test_wd14_int8_export_scores_close_to_the_run(int8, trained):
    root, pictures = int8
    wd14 = open_onnx(root / "wd14_int8")
    assert wd14.layout == "wd14" and wd14.image_size == 448
    big = np.stack([prepare(Image.fromarray(p), 448, "pad") for p in pictures[:8]])  # as tag.py
    mean, largest = differences(wd14.predict(big), open_onnx(root / "fp32").predict(pictures[:8]))
    assert mean < CLOSE_MEAN and largest < 2 * CLOSE_MAX  # the 448 round trip blurs a little


def test_tag_py_draw_py_and_test_py_run_the_int8_export(int8, trained, tmp_path, capsys):
    root, _ = int8
    data, run = trained
    fp32 = test_script.main(["--run", str(root / "fp32"), "--min-common", "1", "--quiet"])
    report = test_script.main(["--run", str(root / "int8"), "--min-common", "1", "--quiet"])
    assert report["images"] == fp32["images"] > 0 and abs(report["map"] - fp32["map"]) < 0.02
    pics = tmp_path / "pics"
    pics.mkdir()
    held = [r["id"] for r in read_csv(run / "split.csv") if r["split"] == "test"][:4]
    for post_id in held:
        found = next((data / "images").glob(f"{post_id}.*"))
        shutil.copy(found, pics / found.name)
    capsys.readouterr()
    for name in ("int8", "fp32"):
        tag.main([str(pics), "--run", str(root / name), "--workers", "0", "--quiet",
                  "--caption-extension", f".{name}"])
    assert f"captioned {len(held)} pictures" in capsys.readouterr().out
    draw.main([str(pics), "--run", str(root / "int8"), "--out", str(tmp_path / "drawn"),
               "--workers", "0", "--quiet"])
    assert len(list((tmp_path / "drawn").glob("*_tags.png"))) == len(held)
    for picture in pics.glob("*.png"):  # the shapes are clear: the same tags (in score
        # order, which two tags scored near 1.0 may swap between int8 and fp32)
        tags = [set(picture.with_suffix(f".{name}").read_text().strip().split(", "))
                for name in ("int8", "fp32")]
        assert tags[0] == tags[1] != {""}


def test_quantize_is_refused_in_one_line_for_other_formats(trained, tmp_path, capsys):
    _, run = trained
    with pytest.raises(SystemExit):
        export.main(["--run", str(run), "--format", "litert", "--quantize", "int8",
                     "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--quantize int8" in err and "litert" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("broken", ["no validation split", "no data folder"])
def test_calibration_without_validation_pictures_says_so(trained, tmp_path, capsys, broken):
    _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("logs", "checkpoints", "eval"))
    if broken == "no validation split":
        rows = read_csv(copy / "split.csv")
        (copy / "split.csv").write_text("id,split\n" + "".join(
            f"{r['id']},{'test' if r['split'] == 'val' else r['split']}\n" for r in rows))
        expected = "no validation pictures"
    else:
        settings = json.loads((copy / "args.json").read_text())
        settings.update(data_dir=str(tmp_path / "gone"), data_dir_absolute=str(tmp_path / "gone"))
        (copy / "args.json").write_text(json.dumps(settings))
        expected = "data folder"
    with pytest.raises(SystemExit):
        export.main(["--run", str(copy), "--format", "onnx", "--quantize", "int8",
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "--quantize" in err
    assert not (tmp_path / "out").exists()
