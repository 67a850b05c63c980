"""Training pieces: learning-rate schedule, losses, metrics, history and TensorBoard records."""
import csv
import os

import keras
import numpy as np

from ..core.render import prediction_grid
from .config import MONITORS


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


def make_metrics(loss, n_tags):
    """The metrics tracked with each objective (precision, recall, F1 and PR-AUC, or accuracy)."""
    if loss == "softmax":
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    return [keras.metrics.Precision(thresholds=0.5, name="precision"),
            keras.metrics.Recall(thresholds=0.5, name="recall"),
            keras.metrics.F1Score(average="micro", threshold=0.5, name="f1"),
            keras.metrics.AUC(curve="PR", multi_label=True, num_labels=n_tags, name="pr_auc")]


def per_example_loss(loss, label_smoothing=0.0, reduction=None):
    """The objective's loss; one value per image with the default reduction=None."""
    if loss == "bce":
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing,
                                               reduction=reduction)
    if loss == "asl":
        return AsymmetricLoss(reduction=reduction)
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing,
                                                reduction=reduction)


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


# The numbers a person reads at the end of an epoch, in this order (history.csv and
# TensorBoard keep the rest). val PR-AUC is Keras's interpolated area per tag, averaged: close
# to, but not the same number as, the mAP that train.py's last line reports.
EPOCH_LINE = (("loss", "loss"), ("val_loss", "val loss"), ("val_pr_auc", "val PR-AUC"),
              ("val_f1", "val F1"), ("val_accuracy", "val accuracy"))


def epoch_line(epoch, epochs, logs):
    """'epoch 3/30: loss 0.2514, val loss 0.2701, val PR-AUC 0.612, val F1 0.548 (41.2 s,
    310 images/s)': the rate is the training steps' (tagger.train.loop)."""
    numbers = ", ".join(f"{name} {logs[key]:.4f}" if "loss" in key else f"{name} {logs[key]:.3f}"
                        for key, name in EPOCH_LINE if key in logs)
    rate = f", {logs['images_per_second']:,.0f} images/s" if "images_per_second" in logs else ""
    return f"epoch {epoch + 1}/{epochs}: {numbers} ({logs['seconds']:.1f} s{rate})"


def best_so_far(history, monitor):
    """(best value, epochs since it) of `monitor` in earlier history, or (None, 0)."""
    values = [r[monitor] for r in history if monitor in r]
    if not values:
        return None, 0
    pick = np.argmin if MONITORS[monitor] == "min" else np.argmax
    best = int(pick(values))
    return float(values[best]), len(values) - 1 - best


def is_better(value, best, monitor):
    """Whether `value` of `monitor` improves on `best` (None: nothing to beat yet)."""
    if best is None:
        return True
    return value < best if MONITORS[monitor] == "min" else value > best


class RunLog:
    """What the chief records each epoch: a history.csv row, TensorBoard scalars (the names
    Keras uses: train/ and validation/ epoch_loss, ...), weight histograms, and a few
    validation pictures with their predicted tags."""

    def __init__(self, run, model, tags, val_images, val_labels, top_k=5):
        import tensorflow as tf

        self.run, self.model, self.tags, self.top_k = run, model, tags, top_k  # run: RunFolder
        self.val_images, self.val_labels = val_images, val_labels
        self.writers = {name: tf.summary.create_file_writer(str(run.logs / name))
                        for name in ("train", "validation", "images")}

    def epoch(self, epoch, logs):
        """Record one finished epoch."""
        self._append_history(dict(epoch=epoch, **logs))
        self._scalars(epoch, logs)
        self._histograms(epoch)
        self._pictures(epoch)
        for writer in self.writers.values():
            writer.flush()

    def _append_history(self, row):
        path = self.run.history
        new = not os.path.isfile(path)
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _scalars(self, epoch, logs):
        import tensorflow as tf

        for key, value in logs.items():
            name, where = (key[4:], "validation") if key.startswith("val_") else (key, "train")
            with self.writers[where].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)

    def _histograms(self, epoch):
        import tensorflow as tf

        with self.writers["train"].as_default():
            for weight in self.model.weights:
                tf.summary.histogram(weight.path.replace(":", "_"), weight.value, step=epoch)

    def _pictures(self, epoch):
        import tensorflow as tf

        scores = keras.ops.convert_to_numpy(self.model(self.val_images, training=False))
        predicted = [[(self.tags[j], float(s[j])) for j in np.argsort(-s)[:self.top_k]]
                     for s in scores]
        true = [[self.tags[j] for j in np.flatnonzero(y)] for y in self.val_labels]
        grid = prediction_grid(self.val_images.astype(np.uint8), predicted, true)
        with self.writers["images"].as_default():
            tf.summary.image("validation predictions", grid[None], step=epoch)
