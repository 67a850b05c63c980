"""Tagging with onnxruntime, without TensorFlow: an exported run, or any WD14-layout folder.

Two layouts are read:
- this project's bare ONNX export (`export.py RUN --format onnx`): model.onnx fed RGB 0..255
  at the run's size, with the run's dic.txt and thresholds.csv beside it;
- the WD14 tagger layout (model.onnx + selected_tags.csv, as `export.py --format wd14`
  writes and as public WD taggers ship): fed as those tools feed it, a white square of 448
  (the input's height) in BGR, prepared as kohya's script prepares it (core.wd_input); the
  rating columns (category 9) are left out, so callers see only the tags. Its tuned
  thresholds are the run's thresholds.csv, which export.py copies beside it; a public WD
  tagger has none, and choosing by tuned thresholds is refused.
OnnxRun offers what tagger.infer.keras_run.Run offers: tags, thresholds, image_size, fit, predict().
This module must not import TensorFlow or Keras.
"""
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.folders import ExportFolder
from ..core.tags import load_dic
from ..core.wd_input import WD_FIT
from . import devices
from .keras_run import read_thresholds  # TensorFlow-free: keras_run imports Keras only to load

RATING_CATEGORY = "9"


@dataclass
class OnnxRun:
    """An ONNX tagger: predicts tag scores for uint8 RGB pictures (n, size, size, 3)."""
    path: Path                 # the folder (or the .onnx file's folder)
    session: object            # onnxruntime.InferenceSession
    tags: list
    thresholds: np.ndarray
    image_size: int
    fit: str
    layout: str                # "onnx" (bare, RGB) or "wd14" (BGR, ratings first)
    columns: np.ndarray        # which output columns are the tags
    settings: dict = field(default_factory=dict)  # the source run's args.json, when known

    def predict(self, arrays, batch_size=64):
        """Scores (n, n_tags) for uint8 RGB arrays (n, size, size, 3), in batches."""
        arrays = np.asarray(arrays)
        name = self.session.get_inputs()[0].name
        out = []
        for start in range(0, len(arrays), batch_size):
            batch = arrays[start:start + batch_size]
            if self.layout == "wd14":
                batch = batch[..., ::-1]  # RGB -> BGR, reversed as it is converted below
            batch = batch.astype(np.float32, order="C")  # one pass: 5x faster than two
            out.append(self.session.run(None, {name: batch})[0][:, self.columns])
        if not out:
            return np.zeros((0, len(self.tags)), np.float32)
        return np.concatenate(out)


def find_onnx_file(path):
    """The .onnx file of a folder (model.onnx, else its only *.onnx) or the file itself."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ValueError(f"{path}: not an .onnx file")
        return path
    if ExportFolder(path).onnx.is_file():
        return ExportFolder(path).onnx
    found = sorted(path.glob("*.onnx")) if path.is_dir() else []
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected model.onnx or exactly one .onnx file, found "
            f"{len(found)}; export a run with `python export.py RUN --format onnx`")
    return found[0]


def read_selected_tags(path):
    """(names, categories) of a WD14 selected_tags.csv (header tag_id,name,category,count)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"name", "category"} <= set(rows[0]):
        raise ValueError(f"{path}: not a WD14 tag list (needs the columns name and category)")
    return [r["name"] for r in rows], [r["category"].strip() for r in rows]


def onnx_session(model_file, device="cpu"):
    """An onnxruntime session on `device` (tagger.infer.devices) that logs errors only."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise
    return devices.onnx_session(model_file, options, device)


def export_info(folder):
    """export.json of an export folder: how it was made ({} for a folder export.py did not
    write, such as a public WD14 tagger)."""
    path = ExportFolder(folder).info
    return json.loads(path.read_text()) if path.is_file() else {}


def export_thresholds(folder, tags, info):
    """The tuned per-tag thresholds an export carries: the run's thresholds.csv beside it, or
    the tool's one threshold where export.py folded them into the graph; None for a tagger
    with none (a public WD14 tagger), whose tuned choice is refused."""
    if info.get("thresholds") == "tuned" and info.get("tool_threshold"):
        return np.full(len(tags), float(info["tool_threshold"]))
    return read_thresholds(ExportFolder(folder).thresholds, tags)


def open_onnx(path, device="auto"):
    """An OnnxRun for a folder with model.onnx (or one *.onnx file), or for an .onnx file,
    run on `device` (one of tagger.infer.devices.DEVICES)."""
    model_file = find_onnx_file(path)
    folder = model_file.parent
    info = export_info(folder)
    try:
        session = onnx_session(model_file, device)
    except devices.DeviceError:
        raise
    except Exception as exc:  # onnxruntime's own error types for a cut-off or foreign file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(f"{model_file} cannot be read ({type(exc).__name__}: {first[:200]}); "
                         f"it is damaged or incomplete: export the run again (python export.py "
                         f"RUN --format onnx or wd14) or copy it again") from None
    size = int(session.get_inputs()[0].shape[1])
    settings, selected = info.get("run_settings", {}), ExportFolder(folder).selected_tags
    if selected.is_file():
        names, categories = read_selected_tags(selected)
        columns = np.array([i for i, c in enumerate(categories) if c != RATING_CATEGORY])
        width = session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(names):
            raise ValueError(f"{model_file} gives {width} scores but "
                             f"{selected} lists {len(names)} tags")
        tags = [names[i] for i in columns]
        return OnnxRun(folder, session, tags, export_thresholds(folder, tags, info), size,
                       WD_FIT, "wd14", columns, settings)
    dic = ExportFolder(folder).dic
    if not dic.is_file():
        raise FileNotFoundError(f"{folder}: neither {selected.name} (WD14 layout) nor {dic.name} "
                                f"(python export.py RUN --format onnx) beside {model_file.name}")
    tags = load_dic(dic)
    return OnnxRun(folder, session, tags, export_thresholds(folder, tags, info), size,
                   settings.get("fit", "pad"), "onnx", np.arange(len(tags)), settings)
