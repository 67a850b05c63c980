"""Reading a trained run folder: the model, its dictionary, thresholds and settings."""
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import prepare
from .tags import load_dic


@dataclass
class Run:
    """A trained run: predicts tag scores for images prepared as in training."""
    path: Path
    model: object
    tags: list
    thresholds: np.ndarray
    settings: dict
    _forward: object = field(default=None, repr=False, compare=False)

    @property
    def image_size(self):
        return int(self.settings["image_size"])

    @property
    def fit(self):
        """How pictures are made square for this model (deal.py's --fit)."""
        return self.settings.get("fit", "pad")

    def predict(self, arrays, batch_size=256):
        """Scores (n, n_tags) for uint8 arrays (n, size, size, 3), in batches.

        Runs the network as one compiled tf.function traced once for any batch length:
        `model.predict` builds a data pipeline on every call, which costs more than the
        network itself on a batch of small images."""
        arrays = np.asarray(arrays)
        if self._forward is None:
            self._forward = _compiled_forward(self.model, self.image_size)
        scores = [self._forward(np.asarray(arrays[i:i + batch_size], np.float32)).numpy()
                  for i in range(0, len(arrays), batch_size)]
        return np.concatenate(scores) if scores else np.zeros((0, len(self.tags)), np.float32)


def _compiled_forward(model, size):
    """model(x, training=False) as a tf.function over float32 batches of any length."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    def forward(images):
        return model(images, training=False)

    return forward


def trained_data_dirs(settings):
    """Where the data folder a run was trained on may be, from its args.json settings: the
    absolute path (recorded by train.py since it records one), then the path as typed."""
    found = (settings.get("data_dir_absolute"), settings.get("data_dir"))
    return [Path(p) for p in dict.fromkeys(found) if p]


def load_run(path):
    """Load RUN/model.keras with the dic.txt and thresholds.csv it was trained with."""
    path = Path(path)
    if not (path / "model.keras").is_file():
        raise FileNotFoundError(f"{path}/model.keras not found: train first (python train.py "
                                f"--run {path}), or pass --run with a trained run folder")
    import keras

    tags = load_dic(path / "dic.txt")
    if not (path / "args.json").is_file():
        raise FileNotFoundError(f"{path} has model.keras but no args.json, which says how it was "
                                f"trained (image size, fit, data folder): copy it from the run "
                                f"folder train.py wrote, or train again (python train.py --run "
                                f"{path} --overwrite)")
    settings = json.loads((path / "args.json").read_text())
    thresholds = np.full(len(tags), 0.5)
    if (path / "thresholds.csv").is_file():
        with open(path / "thresholds.csv", newline="") as f:
            by_tag = {r["tag"]: float(r["threshold"]) for r in csv.DictReader(f)}
        thresholds = np.array([by_tag.get(t, 0.5) for t in tags])
    # predicting needs no loss or optimiser; so a --loss asl model loads in a fresh process
    # without its custom loss class (tagger.training registers it for keras.models.load_model)
    model = keras.models.load_model(path / "model.keras", compile=False)
    return Run(path, model, tags, thresholds, settings)


def prepare_batches(sources, size, fit, batch_size, on_error):
    """Yield (indices, uint8 array batch) of images prepared as deal.py does; skip bad ones."""
    indices, arrays = [], []
    for i, source in enumerate(sources):
        try:
            arrays.append(prepare(source, size, fit))
            indices.append(i)
        except Exception as exc:  # an unreadable picture is reported, the others go on
            on_error(i, f"{type(exc).__name__}: {exc}")
        if len(arrays) == batch_size:
            yield indices, np.stack(arrays)
            indices, arrays = [], []
    if arrays:
        yield indices, np.stack(arrays)
