"""The scale bench's training measurements, each run in its own process by bench/scale.py.

Training is train.py's own path (tagger.train.dataset.make_dataset, tagger.train.trainer.build and
tagger.train.loop.Loop on the default strategy, or MultiWorkerMirroredStrategy under TF_CONFIG),
bounded to a fixed number of steps after a warm-up, and reported in images per second.
"""
import os
import time

import numpy as np


def _labels(n, n_tags=38, seed=0):
    """Random multi-hot targets, about 4 tags per image (the rate does not depend on them)."""
    return (np.random.default_rng(seed).random((n, n_tags)) < 0.1).astype(np.float32)


def _first_files(folder, n):
    """The first n .jpg files of a folder, by name (all of them if there are fewer)."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(".jpg"))
    return [os.path.join(folder, name) for name in names[:n]]


def _memory_dataset(paths, targets, image_size, batch, seed=0):
    """The ceiling: images already decoded in memory, with train.py's shuffle and augmentation."""
    import tensorflow as tf

    from tagger.core.images import load_rgb
    from tagger.train.dataset import InputSpec, augmenter

    pixels = np.stack([np.asarray(load_rgb(p)) for p in paths])
    if pixels.shape[1] != image_size:
        raise ValueError(f"images are {pixels.shape[1]} px, not {image_size}")
    ds = tf.data.Dataset.from_tensor_slices((pixels, targets)).shuffle(len(paths), seed=seed)
    spec = InputSpec(image_size, batch, training=True, shift=0.1, seed=seed)
    ds = ds.repeat().map(augmenter(spec), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _dataset(source, paths, targets, image_size, batch, shard=(1, 0)):
    from tagger.train.dataset import InputSpec, make_dataset

    if source == "memory":
        return _memory_dataset(paths, targets, image_size, batch)
    # train.py's pipeline with the cache off (the data does not fit)
    spec = InputSpec(image_size, batch, training=True, shift=0.1, cache=False, shard=shard,
                     repeat=True)
    if source == "files":
        return make_dataset(paths, targets, spec)
    if source == "tfrecord":  # paths: the shard files; targets: (n_tags, n_examples)
        from tagger.train.records import record_dataset

        return record_dataset(paths, *targets, spec)
    raise ValueError(f"unknown source {source!r}")


def train_rate(image_dir, n_images, source, steps=40, warmup=5, image_size=64, batch=128,
               model="resnet", memory_images=4096, records=None):
    """Images per second of train.py's training loop fed from `source` for `steps` steps.

    files: every image of the first n_images read and decoded each time (no cache);
    memory: the first `memory_images` already decoded (the ceiling);
    tfrecord: the shards in `records` (written by tagger.train.records from the same images).
    Under TF_CONFIG this is one worker of a cluster; `batch` is per worker.
    """
    import keras

    from tagger.train.config import TrainConfig
    from tagger.train.distributed import choose_strategy, cluster_from_env
    from tagger.train.loop import Loop
    from tagger.train.trainer import build

    cluster = cluster_from_env()
    strategy, _ = choose_strategy(cluster)
    n = memory_images if source == "memory" else n_images
    paths = _first_files(image_dir, n)
    n = len(paths)
    targets = _labels(n)
    global_batch = batch * strategy.num_replicas_in_sync

    def input_fn(context):
        if source == "tfrecord":
            return _dataset(source, records, (targets.shape[1], n), image_size, batch,
                            (context.num_input_pipelines, context.input_pipeline_id))
        return _dataset(source, paths, targets, image_size, batch,
                        (context.num_input_pipelines, context.input_pipeline_id))

    batches = iter(strategy.distribute_datasets_from_function(input_fn))
    cfg = TrainConfig(run=None, seed=0, model=model, image_size=image_size, epochs=1,
                      patience=0, batch_size=batch, schedule="constant", warmup_epochs=0.0,
                      mixed_precision="off", cache_mb=0)
    keras.utils.set_random_seed(0)
    net, optimizer = build(cfg, targets.shape[1], strategy, steps + warmup, 0)
    loop = Loop(strategy, cluster, net, optimizer, "bce", targets.shape[1], global_batch)
    loop.train_epoch(batches, warmup)  # traces the step, fills the pipeline's buffers
    start, cpu = time.perf_counter(), time.process_time()
    loop.train_epoch(batches, steps)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"items": steps * global_batch, "images_per_second": steps * global_batch / seconds,
            "seconds_timed": seconds, "workers": cluster.num_workers,
            "cpu_ms_per_image": cpu * 1000 / (steps * batch)}  # this worker's images


def input_rate(image_dir, n_images, source, steps=100, image_size=64, batch=128, records=None):
    """Images per second the input pipeline alone delivers (no model), from `source`."""
    paths = _first_files(image_dir, n_images)
    n_images = len(paths)
    targets = _labels(n_images)
    if source == "tfrecord":
        paths, targets = records, (targets.shape[1], n_images)
    ds = _dataset(source, paths, targets, image_size, batch)
    batches = iter(ds)
    for _ in range(5):
        next(batches)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(batches)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"items": steps * batch, "images_per_second": steps * batch / seconds,
            "cpu_ms_per_image": cpu * 1000 / (steps * batch)}


def pack(image_dir, n_images, folder, n_shards=16):
    """Write the first n_images (with the bench's targets) as TFRecord shards; return them."""
    from tagger.train.records import write_records

    paths = _first_files(image_dir, n_images)
    files = write_records(folder, paths, _labels(len(paths)), n_shards)
    return {"items": len(paths), "files": files}


def train_run(data_dir, run, steps=30, warmup=5, batch=128):
    """train.py bounded: its setup (reading labels.csv and the tag folders, the split), then
    `warmup` + `steps` of its training steps from the real pipeline; writes RUN for test.py.
    Returns the setup seconds and the steady images per second."""
    import keras

    import train as script
    from tagger.core.folders import RunFolder
    from tagger.train.config import TrainConfig
    from tagger.train.distributed import Cluster, choose_strategy
    from tagger.train.loop import Loop
    from tagger.train.trainer import build, datasets
    from tagger.core.tags import load_dic

    start = time.perf_counter()
    args = script.parse_args(["--data-dir", str(data_dir), "--run", str(run), "--epochs", "1",
                              "--batch-size", str(batch), "--overwrite"])
    vars(args).pop("local_workers")
    tags = load_dic(args.dic)
    examples = script.load_examples(args.data_dir, tags)
    script.start_run(args, tags)  # moves an old run aside, records args.json and dic.txt
    split, parts = script.split_examples(args, examples)
    script.write_split(RunFolder(args.run).split, split)
    setup = time.perf_counter() - start
    cfg, cluster = TrainConfig.from_args(args), Cluster()
    strategy, _ = choose_strategy(cluster, "off")
    batches, _, _ = datasets(cfg, parts, strategy, cluster)
    keras.utils.set_random_seed(0)
    model, optimizer = build(cfg, len(tags), strategy, steps + warmup, 0)
    loop = Loop(strategy, cluster, model, optimizer, cfg.loss, len(tags), batch)
    loop.train_epoch(batches, warmup)  # traces the step and fills the shuffle buffer
    timed = time.perf_counter()
    loop.train_epoch(batches, steps)
    seconds = time.perf_counter() - timed
    model.save(RunFolder(args.run).model)
    return {"items": len(examples.ids), "setup_seconds": setup, "train_images": steps * batch,
            "images_per_second": steps * batch / seconds}
