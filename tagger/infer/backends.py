"""One loader for every kind of tagger: a Keras run folder, an ONNX export or any WD-layout
folder (WD14's model.onnx + selected_tags.csv, or cl_tagger's model_optimized.onnx +
tag_mapping.json; run with onnxruntime, without TensorFlow), or a LiteRT export
(model.tflite)."""
from pathlib import Path

from ..core.folders import RunFolder
from .devices import DeviceError, use_keras_device
from .keras_run import missing_model


def kind_of(path):
    """"keras", "onnx" or "litert": which backend runs the tagger at `path`."""
    path = Path(path)
    if path.is_file():
        kind = {".onnx": "onnx", ".tflite": "litert"}.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"{path}: a file, but not a tagger: pass an .onnx or .tflite file, "
                             f"or a run or export folder")
        return kind
    if not path.is_dir() or RunFolder(path).model.is_file():
        return "keras"
    if any(path.glob("*.onnx")):
        return "onnx"
    return "litert" if any(path.glob("*.tflite")) else "keras"


def is_tagger(path):
    """True for what open_tagger opens: a run folder with its model, an export or WD-layout
    folder, or an .onnx or .tflite file."""
    path = Path(path)
    try:
        kind = kind_of(path)
    except ValueError:  # a file of another kind
        return False
    return kind != "keras" or RunFolder(path).model.is_file()


def require_tagger(path):
    """Refuse, in one line, a --run or --model that holds no tagger, before any work is
    planned: also when nothing is left to do, so a typo is never taken for "all done"."""
    path = Path(path)
    kind = kind_of(path)  # a file that is not a tagger is refused here
    if not path.exists():
        raise ValueError(f"{path}: not a tagger (no such folder): pass --run with a run folder "
                         f"(model.keras) or an export folder")
    if kind == "keras" and path.is_dir():
        missing_model(RunFolder(path))
    return kind


def open_tagger(path, device="auto"):
    """A tagger offering tags, thresholds, image_size, fit, settings, path and predict():
    a Keras Run, an OnnxRun or a LiteRtRun, by what `path` holds, run on `device` (one of
    tagger.infer.devices.DEVICES; DeviceError when it cannot be had)."""
    kind = kind_of(path)
    if kind == "onnx":
        from .onnx_run import open_onnx

        return open_onnx(path, device)
    if kind == "litert":
        if device not in ("auto", "cpu"):
            raise DeviceError(f"--device {device}: a LiteRT export runs on the CPU here; tag "
                              f"the run's ONNX export (python export.py --run RUN --format "
                              f"onnx) on {device}, or pass --device cpu")
        from .litert_run import open_litert

        return open_litert(path)
    from .keras_run import load_run

    use_keras_device(device)
    return load_run(path)
