"""The cl_tagger layout: model_optimized.onnx + tag_mapping.json, the second layout kohya-ss
sd-scripts' tag_images_by_wd14_tagger.py reads (given a repo id with a subfolder, since
August 2025).

As that script feeds it: BGR pictures padded to a white 448x448 square, as NCHW float32
scaled to [-1, 1] (x / 127.5 - 1); the first output is one logit per tag, and the reader
applies the sigmoid. tag_mapping.json maps each output column (its key, a string) to its tag
and category: {"0": {"tag": "long_hair", "category": "General"}, ...}. Inside the graph: back
to RGB 0..255 pictures, the WD14 export's resize from 448 to the run's size, then the trained
network up to its last dense layer (the logits), with tuned thresholds folded into the bias
when asked. This tagger does not rate, so the mapping has no Rating rows.
"""
import json

import keras
import numpy as np
from keras import layers, ops

from ..core.folders import ExportFolder
from .graph import WD14_SIZE, MatrixResize, folded_bias_shift, is_sigmoid, resize_matrix

CATEGORIES = ("Rating", "General", "Character", "Copyright", "Meta", "Model", "Quality",
              "Artist")  # the categories kohya's reader accepts
SIZE = WD14_SIZE  # kohya's script feeds this layout 448x448 too


class FromClTaggerInput(layers.Layer):
    """NCHW BGR in [-1, 1] to NHWC RGB 0..255, the pictures the run was trained on."""

    def call(self, x):
        x = ops.transpose(x, (0, 2, 3, 1))
        x = (x + 1.0) * 127.5
        return ops.take(x, np.array([2, 1, 0]), axis=-1)


class AddBias(layers.Layer):
    """Add a constant per column (tuned thresholds folded into the logits)."""

    def __init__(self, shift, **kwargs):
        super().__init__(**kwargs)
        self.shift = np.asarray(shift, np.float32)

    def call(self, x):
        return x + ops.convert_to_tensor(self.shift)


def cl_tagger_model(model, image_size, bias_shift=None, resize="bicubic"):
    """The run's network in the cl_tagger layout: NCHW BGR [-1, 1] 448 in, logits out.
    `bias_shift` (per tag) folds tuned thresholds in."""
    if not is_sigmoid(model):
        raise ValueError("the cl_tagger layout scores each tag with its own sigmoid (kohya's "
                         "script applies it); this run was trained with --loss softmax: export "
                         "it as wd14 or onnx instead")
    logits = keras.Model(model.inputs, model.get_layer("logits").output)
    picture = keras.Input((3, SIZE, SIZE), name="input")
    rgb = FromClTaggerInput(name="from_cl_tagger_input")(picture)
    resized = MatrixResize(resize_matrix(SIZE, image_size, resize), name=f"{resize}_resize")(rgb)
    out = logits(resized)
    if bias_shift is not None:
        out = AddBias(bias_shift, name="folded_thresholds")(out)
    return keras.Model(picture, out, name="cl_tagger")


def graph(run, tuned, tool_threshold, resize):
    """(the Keras model to write for a run, the side of the pictures it takes)."""
    shift = folded_bias_shift(run.thresholds, tool_threshold) if tuned else None
    return cl_tagger_model(run.model, run.image_size, shift, resize), SIZE


def feed(pictures):
    """uint8 RGB pictures (n, 448, 448, 3) as kohya's script feeds this layout."""
    bgr = np.asarray(pictures, np.float32)[..., ::-1]
    return np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)) / np.float32(127.5) - np.float32(1.0)


def write_model(model, folder):
    """model_optimized.onnx through Keras's ONNX export, batch size left open."""
    path = ExportFolder(folder).optimized_onnx
    spec = [keras.InputSpec(shape=(None, 3, SIZE, SIZE), dtype="float32", name="input")]
    model.export(str(path), format="onnx", verbose=False, input_signature=spec)
    return path


def write_tag_mapping(path, tags, categories=None):
    """tag_mapping.json: output column -> {"tag", "category"}; every tag General unless
    `categories` ({tag: one of CATEGORIES}) says otherwise."""
    categories = categories or {}
    bad = sorted({c for c in categories.values() if c not in CATEGORIES})
    if bad:
        raise ValueError(f"unknown categories {bad}: kohya's script reads only "
                         f"{', '.join(CATEGORIES)}")
    mapping = {str(i): {"tag": tag, "category": categories.get(tag, "General")}
               for i, tag in enumerate(tags)}
    path.write_text(json.dumps(mapping, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_tag_mapping(path):
    """(tags, categories) of a tag_mapping.json, in output-column order."""
    mapping = json.loads(path.read_text(encoding="utf-8"))
    rows = sorted((int(k), v["tag"], v["category"]) for k, v in mapping.items())
    return [r[1] for r in rows], [r[2] for r in rows]
