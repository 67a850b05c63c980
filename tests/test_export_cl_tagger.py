"""export.py --format cl_tagger: model_optimized.onnx + tag_mapping.json, read here exactly as
kohya-ss sd-scripts' tag_images_by_wd14_tagger.py reads that layout (NCHW, [-1, 1], sigmoid
applied by the reader, categories named in the JSON)."""
import json

import numpy as np
import onnx
import onnxruntime
import pytest

import export
from conftest import shape_image
from tagger.core.images import prepare
from tagger.export.cl_tagger import read_tag_mapping, write_tag_mapping
from tagger.infer.keras_run import load_run

TOOL = 0.35


@pytest.fixture(scope="module")
def cl_exports(exported, tmp_path_factory):
    """The shared run exported as cl_tagger, plain and with --tuned."""
    run, root = exported
    out = tmp_path_factory.mktemp("cl_tagger")
    export.main(["--run", str(run), "--format", "cl_tagger", "--out", str(out / "plain")])
    export.main(["--run", str(run), "--format", "cl_tagger", "--tuned", "--threshold", str(TOOL),
                 "--out", str(out / "tuned")])
    return run, root, out


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    """uint8 RGB pictures padded to a white 448 square, as kohya's script prepares them."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(5)
    arrays = []
    for i in range(6):
        path = folder / f"{i}.png"
        path.write_bytes(shape_image(rng, ("red", "blue")[i % 2],
                                     ("circle", "square")[i // 2 % 2], 40 + 7 * i))
        arrays.append(prepare(path, 448, "pad"))
    return np.stack(arrays)


def kohya_probabilities(folder, pictures):
    """Run model_optimized.onnx as kohya's reader does: BGR, NCHW, x / 127.5 - 1, the first
    output, then a sigmoid; {tag: probabilities} by tag_mapping.json's column ids."""
    model = onnx.load(folder / "model_optimized.onnx")
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert not batch_dim.dim_value  # an open batch: kohya keeps its --batch_size
    session = onnxruntime.InferenceSession(str(folder / "model_optimized.onnx"),
                                           providers=["CPUExecutionProvider"])
    imgs = pictures[..., ::-1].astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0
    logits = session.run(None, {model.graph.input[0].name: imgs})[0]
    mapping = json.loads((folder / "tag_mapping.json").read_text(encoding="utf-8"))
    probs = 1 / (1 + np.exp(-logits))
    return {info["tag"]: probs[:, int(i)] for i, info in mapping.items()}, mapping


def wd14_probabilities(folder, pictures):
    """The WD14 export's scores of the same pictures, as kohya feeds that layout (BGR, NHWC)."""
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(pictures[..., ::-1], np.float32)})[0]


def test_the_layout_is_what_kohya_reads(cl_exports):
    run, _, out = cl_exports
    folder = out / "plain"
    tags = load_run(run).tags
    inputs = onnx.load(folder / "model_optimized.onnx").graph.input
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 448, 448]  # NCHW at kohya's IMAGE_SIZE
    mapping = json.loads((folder / "tag_mapping.json").read_text())
    assert list(mapping) == [str(i) for i in range(len(tags))]
    assert [v["tag"] for v in mapping.values()] == tags
    assert {v["category"] for v in mapping.values()} == {"General"}
    for name in ("dic.txt", "thresholds.csv", "split.csv"):  # tag.py --tuned and test.py
        assert (folder / name).read_bytes() == (run / name).read_bytes()
    info = json.loads((folder / "export.json").read_text())
    assert info["format"] == "cl_tagger" and info["self_check"]["max_abs_diff"] < 1e-4
    assert info["layout"] == "NCHW" and info["thresholds"] == "none"


def test_kohya_reads_the_same_scores_as_from_the_wd14_export(cl_exports, squares):
    """The same pictures, the same tags passing: the two layouts of one run agree."""
    _, root, out = cl_exports
    by_tag, mapping = kohya_probabilities(out / "plain", squares)
    wd14 = wd14_probabilities(root / "wd14_default", squares)[:, 4:]  # after the 4 ratings
    cl = np.stack([by_tag[v["tag"]] for v in mapping.values()], axis=1)
    assert np.abs(cl - wd14).max() < 1e-4
    assert ((cl >= TOOL) == (wd14 >= TOOL)).all()
    assert (cl >= TOOL).any() and not (cl >= TOOL).all()  # some tags pass, some do not


def test_tuned_folds_the_run_thresholds_into_the_logits(cl_exports, squares):
    run, _, out = cl_exports
    by_tag, mapping = kohya_probabilities(out / "tuned", squares)
    tagger = load_run(run)
    keras_scores = tagger.predict(np.stack([prepare_small(p, tagger.image_size)
                                            for p in squares]))
    folded = np.stack([by_tag[v["tag"]] for v in mapping.values()], axis=1)
    margin = np.abs(keras_scores - tagger.thresholds) > 0.02  # clear of the resize's rounding
    assert margin.any()
    assert ((folded >= TOOL) == (keras_scores >= tagger.thresholds))[margin].all()
    info = json.loads((out / "tuned" / "export.json").read_text())
    assert info["thresholds"] == "tuned" and info["tool_threshold"] == TOOL
    assert not (out / "tuned" / "thresholds.csv").exists()  # kohya's one --thresh applies


def prepare_small(square, size):
    """A 448 square shrunk to the run's size as the export's graph shrinks it (bicubic)."""
    from PIL import Image

    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BICUBIC))


def test_a_mapping_names_only_categories_kohya_accepts(tmp_path):
    path = tmp_path / "tag_mapping.json"
    write_tag_mapping(path, ["long_hair", "hakurei_reimu"], {"hakurei_reimu": "Character"})
    assert read_tag_mapping(path) == (["long_hair", "hakurei_reimu"], ["General", "Character"])
    with pytest.raises(ValueError, match="unknown categories.*Species"):
        write_tag_mapping(path, ["cat"], {"cat": "Species"})


def test_tuned_is_refused_for_a_format_that_carries_thresholds_csv_instead(exported, tmp_path,
                                                                          capsys):
    run, _ = exported
    with pytest.raises(SystemExit) as stopped:
        export.main(["--run", str(run), "--format", "onnx", "--tuned",
                     "--out", str(tmp_path / "x")])
    assert stopped.value.code == 2 and "wd14 or cl_tagger" in capsys.readouterr().err
