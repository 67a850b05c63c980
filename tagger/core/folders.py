"""The two folders the stages share, as objects: a data folder and a run folder.

Every file name inside them is spelled here and nowhere else; the stages ask these objects
for paths and recorded settings.

    data/                      DataFolder
      all_data.csv               the Safebooru CSV (default --csv)
      images/                    download.py's thumbnails (or its recorded --out)
      download_args.json         how download.py ran, and where the thumbnails went
      dic.txt, tag_counts.csv    set_dic.py's dictionary and counts
      resized/, anime_images/    deal.py's resized images and hard-linked tag folders
      labels.csv, deal_args.json deal.py's labels and settings (image size, fit)
      quarantine/, capped.csv    check.py's removals, with check_args.json and its report
      replaced/                  what a later run moved aside
    runs/NAME/                 RunFolder
      args.json, dic.txt         how train.py ran, and the dictionary it trained on
      split.csv, history.csv     the id split, and one row per epoch
      model.keras, thresholds.csv the trained model and its tuned per-tag thresholds
      logs/, checkpoints/        TensorBoard, and the state a killed run resumes from
      eval/, export/FORMAT/      test.py's report, export.py's exports (ExportFolder)
"""
import json
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_path

DEFAULT_IMAGE_SIZE = 100  # pixels, the original project's input size
DEFAULT_FIT = "pad"
DEFAULT_ROW_LIMIT = 100_000  # CSV rows download, set_dic and deal read; 0 = all


def _read_json(path):
    """A JSON object from `path`, or {} when there is none."""
    return json.loads(path.read_text()) if path.is_file() else {}


def write_json(path, values):
    """Write a settings record atomically, keys sorted."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class DataFolder:
    """DATA_DIR: what download.py, set_dic.py, deal.py and check.py write, and train.py reads."""
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    csv = property(lambda self: self.path / "all_data.csv")
    dic = property(lambda self: self.path / "dic.txt")
    tag_counts = property(lambda self: self.path / "tag_counts.csv")
    set_dic_errors = property(lambda self: self.path / "set_dic_errors.csv")
    download_args = property(lambda self: self.path / "download_args.json")
    download_errors = property(lambda self: self.path / "download_errors.csv")
    resized = property(lambda self: self.path / "resized")
    tag_folders = property(lambda self: self.path / "anime_images")
    labels = property(lambda self: self.path / "labels.csv")
    deal_args = property(lambda self: self.path / "deal_args.json")
    deal_errors = property(lambda self: self.path / "deal_errors.csv")
    deal_scratch = property(lambda self: self.path / ".deal_scratch.sqlite")  # during a run
    check_args = property(lambda self: self.path / "check_args.json")
    check_report = property(lambda self: self.path / "check_report.csv")
    check_inspected = property(lambda self: self.path / ".check_inspected.jsonl")
    check_plan = property(lambda self: self.path / ".check_plan.json")
    check_scratch = property(lambda self: self.path / ".check_scratch.sqlite")  # during a run
    quarantine = property(lambda self: self.path / "quarantine")
    quarantine_reasons = property(lambda self: self.path / "quarantine" / "reasons.csv")
    capped = property(lambda self: self.path / "capped.csv")
    deleted = property(lambda self: self.path / "deleted.csv")
    replaced = property(lambda self: self.path / "replaced")
    replaced_tag_folders = property(lambda self: self.path / "replaced" / "anime_images")

    def resized_image(self, post_id):
        """Where deal.py keeps the resized image of one post."""
        return self.resized / f"{post_id}.jpg"

    def resized_name(self, post_id):
        """That image's name as labels.csv records it, relative to the data folder."""
        return f"{self.resized.name}/{post_id}.jpg"

    @property
    def images(self):
        """Where download.py put the thumbnails: its recorded --out, else DATA_DIR/images."""
        out = _read_json(self.download_args).get("out")
        return self.path / out if out else self.path / "images"  # out may be absolute

    def record_download(self, values, out):
        """Write download_args.json, keeping `out` relative to the data folder when it lies
        inside it, so the later stages find the thumbnails from any working folder."""
        out = Path(out).resolve()
        try:
            out = out.relative_to(self.path.resolve())
        except ValueError:
            pass
        write_json(self.download_args, {**values, "out": str(out)})

    def download_setting(self, key, default):
        """One setting download.py recorded (limit, url_column...), or `default`."""
        return _read_json(self.download_args).get(key, default)

    def deal_setting(self, key, default):
        """One setting deal.py recorded, or `default` before deal.py ran."""
        return _read_json(self.deal_args).get(key, default)

    @property
    def image_size(self):
        """The image size deal.py recorded, else the default."""
        return self.deal_setting("image_size", DEFAULT_IMAGE_SIZE)

    @property
    def fit(self):
        """The --fit deal.py recorded, else pad."""
        return self.deal_setting("fit", DEFAULT_FIT)

    @property
    def dealt(self):
        """Whether deal.py has recorded its settings here."""
        return self.deal_args.is_file()


@dataclass(frozen=True)
class RunFolder:
    """RUN: what train.py writes, and test.py, draw.py, tag.py and export.py read."""
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    args = property(lambda self: self.path / "args.json")
    dic = property(lambda self: self.path / "dic.txt")
    split = property(lambda self: self.path / "split.csv")
    history = property(lambda self: self.path / "history.csv")
    model = property(lambda self: self.path / "model.keras")
    best = property(lambda self: self.path / "best.keras")
    thresholds = property(lambda self: self.path / "thresholds.csv")
    logs = property(lambda self: self.path / "logs")
    checkpoints = property(lambda self: self.path / "checkpoints")
    records = property(lambda self: self.path / "records")
    eval = property(lambda self: self.path / "eval")
    exports = property(lambda self: self.path / "export")

    def export(self, fmt):
        """The default folder of one export format."""
        return self.exports / fmt

    @property
    def settings(self):
        """args.json as a dict ({} before train.py recorded it)."""
        return _read_json(self.args)

    @property
    def trained(self):
        """A finished run: model.keras written and no checkpoints left to resume from."""
        return self.model.exists() and not self.checkpoints.exists()

    @staticmethod
    def data_dirs(settings):
        """Where the data folder a run was trained on may be, from its recorded settings:
        the absolute path (train.py records one), then the path as typed."""
        found = (settings.get("data_dir_absolute"), settings.get("data_dir"))
        return [Path(p) for p in dict.fromkeys(found) if p]

    def data_folder(self, settings=None):
        """The DataFolder the run was trained on, the first of data_dirs() that exists, or
        None."""
        for folder in self.data_dirs(self.settings if settings is None else settings):
            if folder.is_dir():
                return DataFolder(folder)
        return None


@dataclass(frozen=True)
class ExportFolder(RunFolder):
    """RUN/export/FORMAT: an exported model with the run's dic.txt, thresholds.csv and
    split.csv copied beside it (the names a run folder gives them), and export.json."""

    info = property(lambda self: self.path / "export.json")
    selected_tags = property(lambda self: self.path / "selected_tags.csv")  # the WD14 layout
    onnx = property(lambda self: self.path / "model.onnx")
    optimized_onnx = property(lambda self: self.path / "model_optimized.onnx")  # cl_tagger's
    tag_mapping = property(lambda self: self.path / "tag_mapping.json")  # layout, and this
    litert = property(lambda self: self.path / "model.tflite")
    saved_model = property(lambda self: self.path / "1")  # TF Serving's version folder

    COPIED = ("dic", "thresholds", "split")  # from the run, under the same names

    @property
    def replaced(self):
        """Where an earlier export is moved when --overwrite replaces it."""
        return self.path.parent / "replaced"


@dataclass(frozen=True)
class EvalFolder:
    """RUN/eval: test.py's report, predictions and charts."""
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    report = property(lambda self: self.path / "report.json")
    predictions = property(lambda self: self.path / "predictions.csv")
    pie = property(lambda self: self.path / "pie.png")
    ap = property(lambda self: self.path / "ap.png")
    pr = property(lambda self: self.path / "pr.png")
