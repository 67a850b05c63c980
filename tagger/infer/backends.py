"""One loader for every kind of tagger: a Keras run folder, an ONNX export or any WD14-layout
folder (run with onnxruntime, without TensorFlow), or a LiteRT export (model.tflite)."""
from pathlib import Path

from ..core.folders import RunFolder
from .devices import DeviceError, use_keras_device


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
