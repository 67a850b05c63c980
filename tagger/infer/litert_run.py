"""Tagging with a LiteRT (TFLite) export: model.tflite fed RGB 0..255 at the run's size, with
the run's dic.txt, thresholds.csv and split.csv beside it (`export.py --format litert`).

The interpreter comes from ai_edge_litert where it is installed, else from TensorFlow."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.folders import ExportFolder
from ..core.tags import load_dic
from .categories import Uncategorised
from .onnx_run import export_info, export_thresholds


def interpreter(model_file):
    """A LiteRT interpreter for `model_file`."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(model_file))


def litert_forward(model_file):
    """A function from a float32 batch to the list of the model's outputs."""
    runner = interpreter(model_file)

    def forward(batch):
        index = runner.get_input_details()[0]["index"]
        runner.resize_tensor_input(index, batch.shape)
        runner.allocate_tensors()
        runner.set_tensor(index, batch)
        runner.invoke()
        return [runner.get_tensor(d["index"]) for d in runner.get_output_details()]

    return forward


@dataclass
class LiteRtRun(Uncategorised):
    """A LiteRT tagger: predicts tag scores for uint8 RGB pictures (n, size, size, 3)."""
    path: Path
    forward: object
    tags: list
    thresholds: np.ndarray
    image_size: int
    fit: str
    settings: dict = field(default_factory=dict)

    def predict(self, arrays, batch_size=64):
        """Scores (n, n_tags) for uint8 RGB arrays (n, size, size, 3), in batches."""
        arrays = np.asarray(arrays)
        out = [self.forward(arrays[i:i + batch_size].astype(np.float32))[0]
               for i in range(0, len(arrays), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.tags)), np.float32)


def open_litert(path):
    """A LiteRtRun for an export folder with model.tflite, or for the .tflite file itself."""
    path = Path(path)
    model_file = path if path.is_file() else ExportFolder(path).litert
    folder = ExportFolder(model_file.parent)
    if not model_file.is_file() or not folder.dic.is_file():
        raise FileNotFoundError(f"{folder.path}: expected {folder.litert.name} with "
                                f"{folder.dic.name} beside it (python export.py --run RUN --format "
                                f"litert)")
    info = export_info(folder.path)
    settings = info.get("run_settings", {})
    tags = load_dic(folder.dic)
    size = int(info.get("input_size") or settings.get("image_size"))
    return LiteRtRun(folder.path, litert_forward(model_file), tags,
                     export_thresholds(folder.path, tags, info), size,
                     settings.get("fit", "pad"), settings)
