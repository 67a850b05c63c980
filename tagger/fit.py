"""The training loop behind train.py: tf.data in, Keras fit with resumable callbacks, outputs."""
import dataclasses
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from . import metrics
from .dataset import fits_in_memory, make_dataset, sample_table
from .fsutil import atomic_csv_writer, atomic_path
from .model import build_model
from .training import (AtomicModelCheckpoint, EpochLogger, ResumableEarlyStopping,
                       ValidationImages, best_so_far, choose_strategy, compile_model,
                       learning_rate_schedule, read_history, resumed_epoch, rewrite_history)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything fit() needs to know, unpacked from the command line (train.py's flags hold
    the defaults)."""
    run: Path
    model: str
    loss: str
    image_size: int
    epochs: int
    patience: int
    monitor: str
    batch_size: int
    lr: float
    schedule: str
    warmup_epochs: float
    label_smoothing: float
    flip: bool
    shift: float
    mixed_precision: str
    cache_mb: int
    seed: int

    @classmethod
    def from_args(cls, args):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})


def datasets(cfg, parts, n_replicas):
    """The training and validation pipelines."""
    batch = cfg.batch_size * max(1, n_replicas)
    n_images = sum(len(p.ids) for p in parts.values())
    cache = fits_in_memory(n_images, cfg.image_size, cfg.cache_mb * 2**20)
    train = make_dataset(*sample_table(parts["train"], cfg.loss), cfg.image_size, batch,
                         training=True, flip=cfg.flip, shift=cfg.shift, seed=cfg.seed, cache=cache)
    val = make_dataset(*sample_table(parts["val"], cfg.loss), cfg.image_size, batch,
                       training=False, cache=cache)
    return train, val


def callbacks(cfg, tags, val_images, val_labels, start_epoch):
    """History, TensorBoard, best model, early stopping and backup/restore, in that order."""
    run = cfg.run
    history = read_history(run / "history.csv", before_epoch=start_epoch)
    rewrite_history(run / "history.csv", history)  # drop epochs that will run again
    best, wait = best_so_far(history, cfg.monitor)
    mode = "min" if cfg.monitor == "val_loss" else "max"
    found = [
        EpochLogger(),
        ValidationImages(str(run / "logs"), val_images, val_labels, tags),
        keras.callbacks.TensorBoard(str(run / "logs"), histogram_freq=1),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        AtomicModelCheckpoint(str(run / "best.keras"), monitor=cfg.monitor, mode=mode,
                              save_best_only=True, initial_value_threshold=best),
    ]
    if cfg.patience:
        found.append(ResumableEarlyStopping(best, wait, monitor=cfg.monitor, mode=mode,
                                            patience=cfg.patience))
    # last: an epoch counts as done once its best model and history are on disk, so a kill
    # in between runs it again rather than losing its best model
    found.append(keras.callbacks.BackupAndRestore(str(run / "checkpoints"), double_checkpoint=True))
    return found


def first_images(dataset, n=8):
    """The first n images and targets of an unshuffled pipeline, as arrays."""
    images, labels = [], []
    for x, y in dataset.unbatch().take(n):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.stack(images), np.stack(labels)


def fit(cfg, tags, parts):
    """Train; return the seconds this process spent in fit()."""
    keras.utils.set_random_seed(cfg.seed)
    strategy, n_gpus = choose_strategy(cfg.mixed_precision)
    train_ds, val_ds = datasets(cfg, parts, strategy.num_replicas_in_sync)
    steps = int(train_ds.cardinality())
    lr = learning_rate_schedule(cfg.lr, cfg.schedule, steps * cfg.epochs,
                                round(steps * cfg.warmup_epochs))
    with strategy.scope():
        model = build_model(cfg.model, cfg.image_size, len(tags), cfg.loss)
        compile_model(model, cfg.loss, lr, len(tags), cfg.label_smoothing)
    start = resumed_epoch(cfg.run / "checkpoints")
    val_images, val_labels = first_images(
        make_dataset(parts["val"].paths, parts["val"].labels, cfg.image_size, 8, training=False,
                     cache=False))
    where = f"{n_gpus} GPU(s)" if n_gpus else "the CPU"
    print(f"training {cfg.model} ({model.count_params():,} weights, {cfg.loss}) on "
          f"{len(parts['train'].ids):,} images, validating on {len(parts['val'].ids):,}, "
          f"on {where}" + (f"; resuming after epoch {start}" if start else ""), flush=True)
    t0 = time.time()
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, shuffle=False,
              callbacks=callbacks(cfg, tags, val_images, val_labels, start),
              verbose=1 if sys.stdout.isatty() else 2)
    return time.time() - t0


def finish(cfg, tags, parts):
    """Load the best epoch, tune per-tag thresholds on validation, write model.keras."""
    model = keras.models.load_model(cfg.run / "best.keras")
    val = parts["val"]
    scores = model.predict(make_dataset(val.paths, val.labels, cfg.image_size, 500,
                                        training=False, cache=False), verbose=0)
    thresholds = metrics.best_f1_thresholds(val.labels, scores)
    with atomic_csv_writer(cfg.run / "thresholds.csv", ("tag", "threshold")) as writer:
        writer.writerows((t, f"{th:.6f}") for t, th in zip(tags, thresholds))
    with atomic_path(cfg.run / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    return metrics.summary(val.labels, scores, thresholds)


def fit_and_finish(args, tags, parts):
    """train.py's work once the data is known to be sound."""
    cfg = TrainConfig.from_args(args)
    seconds = fit(cfg, tags, parts)
    report = finish(cfg, tags, parts)
    _clear_checkpoints(cfg.run)
    history = read_history(cfg.run / "history.csv")
    best_value, _ = best_so_far(history, cfg.monitor)
    total = sum(r.get("seconds", 0) for r in history) / 60
    print(f"trained {len(history)} epochs in {total:.1f} min ({seconds / 60:.1f} this session); best "
          f"{cfg.monitor} {best_value:.4f}; validation mAP {report['map']:.3f}, micro F1 "
          f"{report['tuned_micro_f1']:.3f} at tuned thresholds; wrote {cfg.run / 'model.keras'}")
    return report


def _clear_checkpoints(run):
    """BackupAndRestore removes its files after a finished fit; remove the folder and best.keras."""
    import shutil

    shutil.rmtree(run / "checkpoints", ignore_errors=True)
    if (run / "best.keras").exists():
        os.remove(run / "best.keras")
