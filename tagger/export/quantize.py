"""int8 ONNX exports: onnxruntime's static quantisation, calibrated on the run's validation
pictures.

The written fp32 model.onnx is pre-processed as onnxruntime recommends (its optimisations and
ONNX shape inference), then quantised in QDQ form: weights int8 per output channel, activations
uint8 with ranges read (min and max) off the run's validation pictures, decoded as tag.py
decodes them and fed as the export is fed. uint8 activations with int8 weights (U8S8) are the
pair onnxruntime's x86 kernels run fastest (VNNI); int8 activations leave most convolutions in
float on the CPU, slower than fp32. What comes before the first convolution (the rescaling; in
wd14 the channel swap and the 448 resize) and from the logits on stays float32: it costs
little and keeps the scores from being rounded. The quantised file replaces model.onnx, so
tag.py, draw.py and test.py open it as any export.
"""
import os
from dataclasses import dataclass

import numpy as np

from ..core.folders import RunFolder
from ..core.images import prepare

MODES = ("none", "int8")
FORMATS = ("onnx", "wd14")  # the ONNX formats; litert and saved_model have their own tools
DEFAULT_CALIBRATION = 256  # validation pictures whose activation ranges set the int8 scales
MAX_DIFF = 0.25  # the largest score difference from Keras an int8 export may have
BATCH = 32  # calibration pictures per onnxruntime call


def check_request(fmt, mode, calibration=DEFAULT_CALIBRATION):
    """Refuse, in one line, a quantisation this export cannot have."""
    if mode not in MODES:
        raise ValueError(f"unknown --quantize {mode!r}; choose one of {', '.join(MODES)}")
    if mode != "none" and fmt not in FORMATS:
        raise ValueError(f"--quantize {mode} is for the {' and '.join(FORMATS)} formats (with "
                         f"onnxruntime); --format {fmt} is exported in float32: drop --quantize")
    if mode != "none" and calibration < 1:
        raise ValueError(f"--calibration {calibration}: int8 needs at least one validation "
                         f"picture to calibrate on")


def validation_paths(run, n):
    """Up to n of the run's validation pictures (spread over the split, in id order), or a
    ValueError saying why there are none."""
    from ..train.dataset import load_examples, read_split

    folder = RunFolder(run.path)
    data = folder.data_folder(run.settings)
    if data is None:
        recorded = RunFolder.data_dirs(run.settings)
        raise ValueError(f"--quantize int8 calibrates on the run's validation pictures, but its "
                         f"data folder {recorded[0] if recorded else '(none in args.json)'} is "
                         f"not there from {os.getcwd()}; run export.py where train.py ran, or "
                         f"export without --quantize")
    if not folder.split.is_file():
        raise ValueError(f"{folder.split} is missing, so the run's validation pictures are not "
                         f"known; int8 calibrates on them: export without --quantize")
    split = read_split(folder.split)
    examples = load_examples(data.path, run.tags)
    val = [p for i, p in zip(examples.ids, examples.paths) if split.get(int(i)) == "val"]
    if not val:
        raise ValueError(f"{run.path} has no validation pictures in {data.path} (split.csv "
                         f"names none, or none is left there) to calibrate int8 on; train with "
                         f"a validation split (--val-fraction), or export without --quantize")
    picks = np.unique(np.linspace(0, len(val) - 1, min(n, len(val))).round().astype(int))
    return [val[i] for i in picks]


@dataclass
class Int8Plan:
    """What quantising an export takes: its calibration pictures, decoded as it is fed."""
    pictures: np.ndarray       # uint8 (n, size, size, 3), RGB
    bgr: bool                  # the export is fed BGR (wd14)
    max_diff: float = MAX_DIFF

    def batches(self, input_name):
        """The calibration feed: float32 batches in the export's channel order."""
        for start in range(0, len(self.pictures), BATCH):
            batch = self.pictures[start:start + BATCH].astype(np.float32)
            yield {input_name: np.ascontiguousarray(batch[..., ::-1]) if self.bgr else batch}

    def apply(self, model_file):
        """Quantise model_file in place; the int8 part of export.json."""
        return quantize_file(model_file, self)


def plan(run, fmt, size, mode, calibration=DEFAULT_CALIBRATION):
    """None for a float export; else an Int8Plan with the run's validation pictures decoded at
    the export's input (the run's size and fit; for wd14 a white 448 square, BGR)."""
    check_request(fmt, mode, calibration)
    if mode == "none":
        return None
    fit = "pad" if fmt == "wd14" else run.fit
    pictures = np.stack([prepare(p, size, fit) for p in validation_paths(run, calibration)])
    return Int8Plan(pictures, bgr=fmt == "wd14")


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an iterator of feeds."""

    def __init__(self, feeds):
        self.feeds = iter(feeds)

    def get_next(self):
        return next(self.feeds, None)


def before_first_conv(graph):
    """Names of the nodes the first convolution depends on: the input's rescaling and layout,
    and the wd14 graph's channel swap and 448 resize, whose int8 form is slower and blurs."""
    producer = {out: node for node in graph.node for out in node.output}
    first = next((node for node in graph.node if node.op_type == "Conv"), None)
    found, todo = set(), list(first.input) if first is not None else []
    while todo:
        node = producer.get(todo.pop())
        if node is not None and node.name not in found:
            found.add(node.name)
            todo.extend(node.input)
    return sorted(name for name in found if name)


def from_last_dense(graph):
    """Names of the last Gemm or MatMul (the logits) and of every node after it: kept in
    float, the scores are not rounded to uint8 steps (a logit step moves a score near its
    threshold by about 0.02)."""
    last = next((node for node in reversed(graph.node) if node.op_type in ("Gemm", "MatMul")),
                None)
    if last is None:
        return []
    found, outputs = {last.name}, set(last.output)
    for node in graph.node:  # in topological order: a node after `last` that reads its outputs
        if set(node.input) & outputs:
            found.add(node.name)
            outputs.update(node.output)
    return sorted(name for name in found if name)


def quantize_file(model_file, int8):
    """Replace model_file with its int8 QDQ form, calibrated on int8.pictures; the int8 part
    of export.json (how it was quantised, and the sizes before and after)."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_file = str(model_file)
    float_bytes = os.path.getsize(model_file)
    prepared, quantized = model_file + ".prepared.onnx", model_file + ".int8.onnx"
    try:
        # sympy's symbolic shapes are not needed: only the batch size is left open
        quant_pre_process(model_file, prepared, skip_symbolic_shape=True)
        graph = onnx.load(prepared, load_external_data=False).graph
        kept_float = before_first_conv(graph) + from_last_dense(graph)
        quantize_static(prepared, quantized, _Reader(int8.batches(graph.input[0].name)),
                        nodes_to_exclude=kept_float, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        os.replace(quantized, model_file)
    finally:
        for leftover in (prepared, quantized):
            if os.path.exists(leftover):
                os.remove(leftover)
    return {"quantize": "int8", "onnxruntime": onnxruntime.__version__,
            "int8": {"format": "QDQ", "weights": "int8, per output channel",
                     "activations": "uint8", "calibration": "MinMax",
                     "float32_nodes": len(kept_float),
                     "calibration_pictures": f"{len(int8.pictures)} validation pictures of the "
                                             f"run",
                     "float32_bytes": float_bytes, "bytes": os.path.getsize(model_file)}}
