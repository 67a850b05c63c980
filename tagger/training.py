"""Keras plumbing for train.py: strategy, compilation, callbacks that survive a restart."""
import csv
import json
import os
import threading
import time
from pathlib import Path

import keras
import numpy as np

from .render import prediction_grid

# What each objective tracks, and which way is better.
MONITORS = {"val_loss": "min", "val_pr_auc": "max", "val_f1": "max", "val_accuracy": "max"}


def choose_strategy(mixed_precision="auto"):
    """MirroredStrategy over every GPU (mixed precision on them by default), else the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision == "on" or (mixed_precision == "auto" and gpus):
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    return strategy, len(gpus)


def learning_rate_schedule(learning_rate, schedule, total_steps, warmup_steps=0):
    """A constant rate, or a linear warm-up to it followed by cosine decay to zero."""
    if schedule == "constant":
        return learning_rate
    warmup_steps = min(warmup_steps, total_steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else learning_rate, max(1, total_steps - warmup_steps),
        warmup_target=learning_rate if warmup_steps else None, warmup_steps=warmup_steps)


@keras.saving.register_keras_serializable(package="tagger")
class AsymmetricLoss(keras.losses.Loss):
    """Asymmetric loss (Ridnik et al., 2021) on sigmoid scores: easy negatives are down-weighted
    by p**gamma_neg after shifting their probability down by `clip`; positives keep plain BCE
    when gamma_pos is 0. Summed over tags, as in the paper, then averaged over the batch."""

    def __init__(self, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, name="asymmetric_loss", **kw):
        super().__init__(name=name, **kw)
        self.gamma_neg, self.gamma_pos, self.clip = gamma_neg, gamma_pos, clip

    def call(self, y_true, y_pred):
        ops = keras.ops
        eps = 1e-7
        p = ops.clip(ops.cast(y_pred, "float32"), eps, 1 - eps)
        y = ops.cast(y_true, "float32")
        p_neg = ops.maximum(p - self.clip, 0.0)
        positive = y * ops.power(1 - p, self.gamma_pos) * ops.log(p)
        negative = (1 - y) * ops.power(p_neg, self.gamma_neg) * ops.log(ops.clip(1 - p_neg, eps, 1))
        return -ops.sum(positive + negative, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma_neg": self.gamma_neg,
                "gamma_pos": self.gamma_pos, "clip": self.clip}


def compile_model(model, loss, learning_rate, n_tags, label_smoothing=0.0):
    """Compile with Adam (a float rate or a schedule) and the objective's loss and metrics."""
    if loss in ("bce", "asl"):
        loss_fn = (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
                   if loss == "bce" else AsymmetricLoss())
        metrics = [keras.metrics.Precision(thresholds=0.5, name="precision"),
                   keras.metrics.Recall(thresholds=0.5, name="recall"),
                   keras.metrics.F1Score(average="micro", threshold=0.5, name="f1"),
                   keras.metrics.AUC(curve="PR", multi_label=True, num_labels=n_tags,
                                     name="pr_auc")]
    else:
        loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    model.compile(keras.optimizers.Adam(learning_rate), loss_fn, metrics=metrics)
    return model


def read_history(path, before_epoch=None):
    """Rows of history.csv as dicts of floats, keeping only epochs below `before_epoch`."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        rows = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return [r for r in rows if before_epoch is None or r["epoch"] < before_epoch]


def rewrite_history(path, rows):
    """Keep only `rows` in history.csv (drops epochs a restart will run again)."""
    if not rows:
        if os.path.exists(path):
            os.remove(path)
        return
    keys = list(rows[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows({k: (int(v) if k == "epoch" else v) for k, v in r.items()} for r in rows)


def resumed_epoch(backup_dir):
    """The number of finished epochs recorded by BackupAndRestore (0 if none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def best_so_far(history, monitor):
    """(best value, epochs since it) of `monitor` in earlier history, or (None, 0)."""
    values = [r[monitor] for r in history if monitor in r]
    if not values:
        return None, 0
    pick = np.argmin if MONITORS[monitor] == "min" else np.argmax
    best = int(pick(values))
    return float(values[best]), len(values) - 1 - best


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that starts from the best value and patience used before a restart."""

    def __init__(self, best, wait, **kwargs):
        super().__init__(**kwargs)
        self._resume_best, self._resume_wait = best, wait

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best, self.wait = self._resume_best, self._resume_wait


class EpochLogger(keras.callbacks.Callback):
    """Adds the learning rate and the epoch's wall time in seconds to each epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))
            logs["seconds"] = round(time.time() - self._start, 2)


class ValidationImages(keras.callbacks.Callback):
    """Draws a few validation images with their predicted tags into TensorBoard each epoch."""

    def __init__(self, log_dir, images, labels, tags, top_k=5):
        super().__init__()
        self.log_dir, self.images, self.labels = log_dir, images, labels
        self.tags, self.top_k = tags, top_k
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "images"))
        scores = self.model.predict(self.images, verbose=0)
        predicted = [[(self.tags[j], float(s[j])) for j in np.argsort(-s)[:self.top_k]]
                     for s in scores]
        true = [[self.tags[j] for j in np.flatnonzero(y)] for y in self.labels]
        grid = prediction_grid(self.images.astype(np.uint8), predicted, true)
        with self._writer.as_default():
            tf.summary.image("validation predictions", grid[None], step=epoch)
        self._writer.flush()


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint whose file appears only whole: saved under a temporary name, then
    renamed, so a run killed while saving keeps its previous best model intact."""

    def _get_file_path(self, epoch, batch, logs):
        final = Path(super()._get_file_path(epoch, batch, logs))
        self._pending = (final.with_name(f".{final.name}.{os.getpid()}-{threading.get_ident()}"
                                         f".keras"), final)  # fsutil.TEMPORARY_NAME's form
        return str(self._pending[0])

    def _save_model(self, epoch, batch, logs):
        try:
            super()._save_model(epoch, batch, logs)
        except BaseException as exc:  # a full disk, say: no half-written temporary stays
            tmp, final = self._pending
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename == str(tmp):
                exc.filename = str(final)
            raise
        tmp, final = self._pending
        if tmp.exists():
            os.replace(tmp, final)
