"""Tagging with onnxruntime, without TensorFlow: an exported run, or any WD-layout folder.

Three layouts are read:
- this project's bare ONNX export (`export.py --run RUN --format onnx`): model.onnx fed RGB 0..255
  at the run's size, with the run's dic.txt and thresholds.csv beside it;
- the WD14 tagger layout (model.onnx + selected_tags.csv, as `export.py --format wd14`
  writes and as public WD taggers ship): fed as those tools feed it, a white square of 448
  (the input's height) in BGR, prepared as kohya's script prepares it (core.wd_input);
- the cl_tagger layout (model_optimized.onnx + tag_mapping.json), fed as kohya-ss
  sd-scripts feeds it: BGR, channels first (NCHW), scaled to [-1, 1], the outputs logits to
  which the sigmoid is applied here.
In both WD layouts the rating columns are kept apart from the tags (`ratings`, scored by
predict_rated), and each tag has its category (tagger.infer.categories). Their tuned
thresholds are the run's thresholds.csv, which export.py copies beside them; a public WD
tagger has none, and choosing by tuned thresholds is refused.
OnnxRun offers what tagger.infer.keras_run.Run offers: tags, thresholds, image_size, fit, predict().
This module must not import TensorFlow or Keras.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.folders import ExportFolder
from ..core.tags import load_dic
from ..core.wd_input import WD_FIT
from . import devices
from .categories import RATING, read_selected_tags, read_tag_mapping, wd_labels  # noqa: F401
from .keras_run import read_thresholds  # TensorFlow-free: keras_run imports Keras only to load


@dataclass
class OnnxRun:
    """An ONNX tagger: predicts tag scores for uint8 RGB pictures (n, size, size, 3)."""
    path: Path                 # the folder (or the .onnx file's folder)
    session: object            # onnxruntime.InferenceSession
    tags: list
    thresholds: np.ndarray
    image_size: int
    fit: str
    layout: str                # "onnx" (bare, RGB), "wd14" (BGR) or "cl_tagger" (BGR, NCHW)
    columns: np.ndarray        # which output columns are the tags
    settings: dict = field(default_factory=dict)  # the source run's args.json, when known
    categories: list = None    # each tag's category ("general", "character", ...)
    ratings: list = field(default_factory=list)  # the rating names, in rating_columns' order
    rating_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def __post_init__(self):
        if self.categories is None:
            self.categories = ["general"] * len(self.tags)

    def predict(self, arrays, batch_size=64):
        """Scores (n, n_tags) for uint8 RGB arrays (n, size, size, 3), in batches."""
        return self.predict_rated(arrays, batch_size)[0]

    def predict_rated(self, arrays, batch_size=64):
        """(tag scores (n, n_tags), rating scores (n, n_ratings)) for uint8 RGB arrays."""
        arrays = np.asarray(arrays)
        name = self.session.get_inputs()[0].name
        tags, ratings = [], []
        for start in range(0, len(arrays), batch_size):
            out = self.session.run(None, {name: self.fed(arrays[start:start + batch_size])})[0]
            if self.layout == "cl_tagger":
                out = 1 / (1 + np.exp(-np.clip(out, -30, 30)))  # logits, as kohya's script says
            tags.append(out[:, self.columns])
            ratings.append(out[:, self.rating_columns])
        if not tags:
            return (np.zeros((0, len(self.tags)), np.float32),
                    np.zeros((0, len(self.ratings)), np.float32))
        return np.concatenate(tags), np.concatenate(ratings)

    def fed(self, batch):
        """A batch of uint8 RGB pictures as this layout's input."""
        if self.layout == "onnx":
            return batch.astype(np.float32)
        batch = batch[..., ::-1]  # RGB -> BGR, reversed as it is converted below
        if self.layout == "cl_tagger":
            batch = batch.transpose(0, 3, 1, 2)
        batch = batch.astype(np.float32, order="C")  # one pass: 5x faster than two
        return batch / np.float32(127.5) - np.float32(1) if self.layout == "cl_tagger" else batch


def find_onnx_file(path):
    """The .onnx file of a folder (model.onnx, or model_optimized.onnx beside
    tag_mapping.json, else its only *.onnx) or the file itself."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ValueError(f"{path}: not an .onnx file")
        return path
    if ExportFolder(path).tag_mapping.is_file() and ExportFolder(path).optimized_onnx.is_file():
        return ExportFolder(path).optimized_onnx
    if ExportFolder(path).onnx.is_file():
        return ExportFolder(path).onnx
    found = sorted(path.glob("*.onnx")) if path.is_dir() else []
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected model.onnx or exactly one .onnx file, found "
            f"{len(found)}; export a run with `python export.py --run RUN --format onnx`")
    return found[0]


def onnx_session(model_file, device="cpu"):
    """An onnxruntime session on `device` (tagger.infer.devices) that logs errors only."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise
    # its threads sleep between batches instead of spinning: the decoding workers share the
    # cores, and spinning took 8% of a tagging run's CPU from them (docs/benchmarks.md)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
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


def opened_session(model_file, device):
    """onnx_session, with a damaged or foreign file refused in one line."""
    try:
        return onnx_session(model_file, device)
    except devices.DeviceError:
        raise
    except Exception as exc:  # onnxruntime's own error types for a cut-off or foreign file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(f"{model_file} cannot be read ({type(exc).__name__}: {first[:200]}); "
                         f"it is damaged or incomplete: export the run again (python export.py "
                         f"RUN --format onnx or wd14) or copy it again") from None


def input_side(session, layout):
    """The side of the square pictures the model takes (448 where its input does not say)."""
    shape = session.get_inputs()[0].shape
    side = shape[2] if layout == "cl_tagger" else shape[1]
    return int(side) if isinstance(side, int) else 448


def wd_layout_run(folder, session, labels, layout, info, model_file):
    """An OnnxRun of a WD-layout folder (`labels` read from its tag list)."""
    labels.check_width(session.get_outputs()[0].shape[-1], model_file)
    columns = labels.tag_columns
    tags = [labels.names[i] for i in columns]
    # export.py writes the layout's rating columns as constant zeros (a run learns no
    # ratings): offered as ratings, they would always say "general"
    ratings = labels.columns(RATING) if not info else np.zeros(0, int)
    return OnnxRun(folder, session, tags, export_thresholds(folder, tags, info),
                   input_side(session, layout), WD_FIT, layout, columns,
                   info.get("run_settings", {}), [labels.categories[i] for i in columns],
                   [labels.names[i] for i in ratings], ratings)


def open_onnx(path, device="auto"):
    """An OnnxRun for a folder with model.onnx (or one *.onnx file), or for an .onnx file,
    run on `device` (one of tagger.infer.devices.DEVICES)."""
    model_file = find_onnx_file(path)
    folder = model_file.parent
    info = export_info(folder)
    selected, mapping = ExportFolder(folder).selected_tags, ExportFolder(folder).tag_mapping
    if mapping.is_file() and not selected.is_file():
        labels = read_tag_mapping(mapping)
        return wd_layout_run(folder, opened_session(model_file, device), labels, "cl_tagger",
                             info, model_file)
    if selected.is_file():
        labels = wd_labels(selected)
        return wd_layout_run(folder, opened_session(model_file, device), labels, "wd14", info,
                             model_file)
    dic = ExportFolder(folder).dic
    if not dic.is_file():
        raise FileNotFoundError(f"{folder}: neither {selected.name} (WD14 layout), {mapping.name} "
                                f"(cl_tagger layout) nor {dic.name} (python export.py --run RUN "
                                f"--format onnx) beside {model_file.name}")
    session = opened_session(model_file, device)
    tags = load_dic(dic)
    settings = info.get("run_settings", {})
    return OnnxRun(folder, session, tags, export_thresholds(folder, tags, info),
                   int(session.get_inputs()[0].shape[1]), settings.get("fit", "pad"), "onnx",
                   np.arange(len(tags)), settings)
