"""Reading a trained run folder: the model, its dictionary, thresholds and settings."""
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.folders import RunFolder
from ..core.tags import load_dic
from .categories import Uncategorised


@dataclass
class Run(Uncategorised):
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


def missing_model(folder):
    """FileNotFoundError, the way a run folder without its model is told, if it has none."""
    if not folder.model.is_file():
        raise FileNotFoundError(f"{folder.model} not found: train first (python train.py "
                                f"--run {folder.path}), or pass --run with a trained run folder")


def load_run(path):
    """Load RUN/model.keras with the dic.txt and thresholds.csv it was trained with.

    Raises FileNotFoundError or ValueError, one line naming the file and what to do, for a
    missing or damaged model, a dictionary or args.json that does not match the model, and
    a damaged thresholds.csv. A missing thresholds.csv gives thresholds None: only the
    uses of tuned thresholds need it (draw.py --tuned refuses, test.py scores at 0.5)."""
    path = Path(path)
    folder = RunFolder(path)
    missing_model(folder)
    try:
        import tensorflow  # noqa: F401  (Keras runs on it here)
        import keras
    except ImportError:
        raise ValueError(f"{path} is a Keras run and this Python has no TensorFlow: export it "
                         f"(python export.py --run {path} --format onnx) where TensorFlow is "
                         f"installed, or install TensorFlow (pip install -r requirements.txt)"
                         ) from None

    tags = load_dic(folder.dic)
    if not folder.args.is_file():
        raise FileNotFoundError(f"{path} has model.keras but no args.json, which says how it was "
                                f"trained (image size, fit, data folder): copy it from the run "
                                f"folder train.py wrote, or train again (python train.py --run "
                                f"{path} --overwrite)")
    settings = _read_settings(folder.args)
    from ..train import layers  # noqa: F401  (registers the networks' own layers for loading)

    # predicting needs no loss or optimiser; so a --loss asl model loads in a fresh process
    # without its custom loss class (tagger.train.recipe registers it for keras.models.load_model)
    try:
        model = keras.models.load_model(folder.model, compile=False)
    except Exception as exc:  # a cut-off zip, another file under the name: many errors
        raise ValueError(f"{path}/model.keras cannot be read ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); it is damaged or "
                         f"incomplete: train again (python train.py --run {path} --overwrite) "
                         f"or copy it again") from None
    _check_shapes(path, model, tags, settings)
    return Run(path, model, tags, read_thresholds(folder.thresholds, tags), settings)


def _read_settings(path):
    try:
        settings = json.loads(path.read_text())
        int(settings["image_size"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is damaged or has no image_size; copy it again from the run "
                         f"folder train.py wrote") from None
    return settings


def read_thresholds(path, tags):
    """Per-tag thresholds in dictionary order, or None without thresholds.csv."""
    if not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            by_tag = {r["tag"]: float(r["threshold"]) for r in csv.DictReader(f)}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is damaged (rows of tag,threshold expected); delete it to "
                         f"score at 0.5, or train again") from None
    missing = [t for t in tags if t not in by_tag]
    if missing:
        raise ValueError(f"{path} has no threshold for {len(missing)} of the dictionary's tags "
                         f"({missing[0]!r}, ...): it belongs to another run; delete it or copy "
                         f"the right one")
    return np.array([by_tag[t] for t in tags])


def _check_shapes(path, model, tags, settings):
    """The model must output one score per dictionary tag and take the recorded image size."""
    outputs = model.output_shape[-1]
    if outputs != len(tags):
        raise ValueError(f"{path}/dic.txt has {len(tags)} tags but model.keras outputs "
                         f"{outputs} scores: the two come from different runs; copy the "
                         f"dic.txt the model was trained with (train.py writes it beside it)")
    size = model.input_shape[1]
    if size is not None and size != int(settings["image_size"]):
        raise ValueError(f"{path}/args.json says {settings['image_size']}x"
                         f"{settings['image_size']} images but model.keras takes {size}x{size}: "
                         f"they come from different runs; copy the args.json it was trained with")
