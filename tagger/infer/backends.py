"""One loader for every kind of tagger draw.py and test.py can run: a Keras run folder, an
ONNX export or any WD14-layout folder (run with onnxruntime, without TensorFlow)."""
from pathlib import Path


def is_onnx(path):
    """True if `path` is an .onnx file, or a folder with an .onnx model and no model.keras."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".onnx"
    return path.is_dir() and not (path / "model.keras").is_file() and any(path.glob("*.onnx"))


def open_tagger(path):
    """A Keras Run for a run folder with model.keras, an OnnxRun for an .onnx file or a folder
    holding one; both offer tags, thresholds, image_size, fit and predict()."""
    if is_onnx(path):
        from .onnx_run import open_onnx

        return open_onnx(path)
    from .keras_run import load_run

    return load_run(path)
