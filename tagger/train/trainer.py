"""train.py's work: the input, the model, the epochs (resumable, on one worker or many), outputs."""
import os
import time

import keras
import numpy as np

from ..core.files import atomic_csv_writer, atomic_path
from ..core.folders import RunFolder
from ..core.progress import bar, plural
from . import metrics
from .dataset import InputSpec, cache_line, fits_in_memory, make_dataset, sample_table
from .distributed import barrier, choose_strategy, describe_devices, write_dir
from .loop import Checkpoints, Loop
from .model import build_model
from .recipe import (RunLog, best_so_far, epoch_line, is_better, learning_rate_schedule,
                     read_history, rewrite_history)
from .records import existing_records, record_dataset, write_records


def input_spec(cfg, batch_size, **changes):
    """The InputSpec of the run's images in batches of `batch_size`: an evaluation pipeline
    (in order, not augmented) unless `changes` say otherwise."""
    return InputSpec(cfg.image_size, batch_size, cfg.fit, flip=cfg.flip, shift=cfg.shift,
                     seed=cfg.seed, **changes)


def datasets(cfg, parts, strategy, cluster):
    """(training batches: an endless distributed iterator, steps per epoch, this worker's share
    of the validation set). Each worker reads only its share of the files; an epoch is as many
    global batches (--batch-size per replica, times the replicas) as make one pass. Images that
    do not fit --cache-mb are read again each epoch, from TFRecord shards with --tfrecords."""
    paths, targets = sample_table(parts["train"], cfg.loss)
    global_batch = cfg.batch_size * strategy.num_replicas_in_sync
    n_images = sum(len(p.ids) for p in parts.values()) // cluster.num_workers
    cache = fits_in_memory(n_images, cfg.image_size, cfg.cache_mb * 2**20)
    if cluster.is_chief:
        print(cache_line(n_images, cfg.image_size, cfg.cache_mb, cfg.tfrecords), flush=True)
    records = packed(cfg, paths, targets, strategy, cluster) if cfg.tfrecords and not cache \
        else None

    def train_input(context):
        spec = input_spec(cfg, context.get_per_replica_batch_size(global_batch), training=True,
                          cache=cache, repeat=True,
                          shard=(context.num_input_pipelines, context.input_pipeline_id))
        if records:
            return record_dataset(records, targets.shape[1], len(paths), spec)
        return make_dataset(paths, targets, spec)

    train = iter(strategy.distribute_datasets_from_function(train_input))
    val = make_dataset(*sample_table(parts["val"], cfg.loss), input_spec(
        cfg, cfg.batch_size, cache=cache, shard=(cluster.num_workers, cluster.index)))
    return train, max(1, -(-len(paths) // global_batch)), val


def packed(cfg, paths, targets, strategy, cluster):
    """The training images as TFRecord shards in RUN/records, written once by the chief."""
    folder = str(RunFolder(cfg.run).records)
    print(f"the images do not fit --cache-mb {cfg.cache_mb}: training reads them from TFRecord "
          f"shards in {folder} (--tfrecords)", flush=True)
    records = existing_records(folder, paths, targets) if cluster.is_chief else None
    if cluster.is_chief and records is None:
        with bar(len(paths), "packing images into TFRecord shards", "image") as progress:
            records = write_records(folder, paths, targets, max(16, 4 * cluster.num_workers),
                                    progress)
    barrier(strategy, cluster)  # the others wait for the chief's shards
    return records if cluster.is_chief else existing_records(folder, paths, targets)


def first_images(dataset, n=8):
    """The first n images and targets of an unshuffled pipeline, as arrays."""
    images, labels = [], []
    for x, y in dataset.unbatch().take(n):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.stack(images), np.stack(labels)


def build(cfg, n_tags, strategy, total_steps, warmup_steps):
    """The model and its Adam optimizer (loss-scaled under mixed precision), on the strategy."""
    lr = learning_rate_schedule(cfg.lr, cfg.schedule, total_steps, warmup_steps)
    with strategy.scope():
        model = build_model(cfg.model, cfg.image_size, n_tags, cfg.loss)
        optimizer = keras.optimizers.Adam(lr)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    return model, optimizer


def fit(cfg, tags, parts, cluster, quiet=False):
    """Train (every worker of a cluster runs this); return (seconds spent here, strategy).
    `quiet`: no progress bar inside the epochs."""
    run = RunFolder(cfg.run)
    keras.utils.set_random_seed(cfg.seed)
    strategy, gpu_names = choose_strategy(cluster, cfg.mixed_precision)
    barrier(strategy, cluster)  # every worker is here: the chief's --overwrite is done
    train_batches, steps, val_ds = datasets(cfg, parts, strategy, cluster)
    model, optimizer = build(cfg, len(tags), strategy, steps * cfg.epochs,
                             round(steps * cfg.warmup_epochs))
    loop = Loop(strategy, cluster, model, optimizer, cfg.loss, len(tags),
                cfg.batch_size * strategy.num_replicas_in_sync, cfg.label_smoothing)
    checkpoints = Checkpoints(run.checkpoints, model, optimizer)
    start, best, wait = checkpoints.restore()
    log = run_log(cfg, model, tags, parts["val"], start) if cluster.is_chief else None
    where = describe_devices(gpu_names, keras.mixed_precision.global_policy().name ==
                             "mixed_float16", cluster, strategy.num_replicas_in_sync)
    print(f"training {cfg.model} ({model.count_params():,} weights, {cfg.loss}) on "
          f"{plural(len(parts['train'].ids), 'image')}, validating on {len(parts['val'].ids):,}, "
          f"{where}" + (f"; resuming after epoch {start}" if start else ""), flush=True)
    t0 = time.time()
    with write_dir(run.checkpoints, cluster) as ckpt_dir, \
            write_dir(run.best, cluster) as best_path:
        epochs(cfg, loop, train_batches, steps, val_ds, log, checkpoints, start,
               (best, wait), (ckpt_dir, best_path), quiet)
    return time.time() - t0, strategy


def run_log(cfg, model, tags, val, start):
    """The chief's RunLog, after dropping the history of epochs that will run again."""
    run = RunFolder(cfg.run)
    rewrite_history(run.history, read_history(run.history, before_epoch=start))
    return RunLog(run, model, tags, *first_images(make_dataset(
        val.paths, val.labels, input_spec(cfg, 8, cache=False))))


def epochs(cfg, loop, train_batches, steps, val_ds, log, checkpoints, start, best_wait, paths,
           quiet=False):
    """The epoch loop: train (with a progress bar on a terminal unless `quiet`), validate,
    keep the best model, record, checkpoint, print one line, stop early."""
    best, wait = best_wait
    ckpt_dir, best_path = paths
    if cfg.patience and wait >= cfg.patience:
        return  # it had stopped early before a kill cut finish() short: nothing more to train
    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        with bar(steps, f"epoch {epoch + 1}/{cfg.epochs}", "batch", disable=True if quiet else None,
                 leave=False) as progress:
            logs = loop.train_epoch(train_batches, steps, progress)
        logs.update(loop.evaluate(val_ds))
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(loop.optimizer.learning_rate))
        logs["seconds"] = round(time.time() - t0, 2)
        if is_better(logs[cfg.monitor], best, cfg.monitor):
            best, wait = logs[cfg.monitor], 0
            with atomic_path(best_path, suffix=".keras") as tmp:
                loop.model.save(tmp)
        else:
            wait += 1
        if log is not None:
            log.epoch(epoch, logs)
        checkpoints.save(epoch + 1, best, wait, ckpt_dir)  # last: a kill before redoes the epoch
        print(epoch_line(epoch, cfg.epochs, logs), flush=True)
        if cfg.patience and wait >= cfg.patience:
            print(f"stopping early: no better {cfg.monitor} for {plural(wait, 'epoch')}", flush=True)
            break


def finish(cfg, tags, parts):
    """Load the best epoch, tune per-tag thresholds on validation, write model.keras."""
    run = RunFolder(cfg.run)
    model = keras.models.load_model(run.best)
    val = parts["val"]
    scores = model.predict(make_dataset(val.paths, val.labels, input_spec(cfg, 500, cache=False)),
                           verbose=0)
    thresholds = metrics.best_f1_thresholds(val.labels, scores)
    with atomic_csv_writer(run.thresholds, ("tag", "threshold")) as writer:
        writer.writerows((t, f"{th:.6f}") for t, th in zip(tags, thresholds))
    with atomic_path(run.model, suffix=".keras") as tmp:
        model.save(tmp)
    return metrics.summary(val.labels, scores, thresholds)


def fit_and_finish(cfg, tags, parts, cluster, quiet=False):
    """train.py's work once the data is known to be sound; only the chief writes the results.
    `quiet`: no progress bar inside the epochs."""
    seconds, strategy = fit(cfg, tags, parts, cluster, quiet)
    report = finish(cfg, tags, parts) if cluster.is_chief else None
    barrier(strategy, cluster)  # the others stay until the chief is done, so it sees no crash
    if not cluster.is_chief:
        return None
    run = RunFolder(cfg.run)
    _clear_working_files(run)
    history = read_history(run.history)
    best_value, _ = best_so_far(history, cfg.monitor)
    total = sum(r.get("seconds", 0) for r in history) / 60
    print(f"trained {plural(len(history), 'epoch')} in {total:.1f} min ({seconds / 60:.1f} this session); best "
          f"{cfg.monitor} {best_value:.4f}; validation mAP {report['map']:.3f}, micro F1 "
          f"{report['tuned_micro_f1']:.3f} at tuned thresholds; wrote {run.model}")
    return report


def _clear_working_files(run):
    """Once model.keras is written, what was kept to resume goes: checkpoints, best.keras, and
    the TFRecord shards (a copy of the training images)."""
    import shutil

    shutil.rmtree(run.records, ignore_errors=True)
    if run.best.exists():
        os.remove(run.best)
    shutil.rmtree(run.checkpoints, ignore_errors=True)  # last: until then, not "trained"
