"""The model stages, each call run in its own process by bench/run.py: training and inference.

Training runs train.py's own loop (tagger.train.loop.Loop) fed by its real input pipeline
(load_examples, make_dataset) or by tensors already in memory (the compute ceiling). Inference is test.py's and draw.py's way (prepare_batches,
then batched Run.predict) or the original's: one image per model.predict call.
"""
import time

import numpy as np


def _loop(image_size, n_tags, batch_size, seed=0):
    """seed_cnn with Adam 1e-4 in train.py's training loop (tagger.train.loop.Loop), on one device."""
    import keras

    from tagger.train.config import TrainConfig
    from tagger.train.distributed import Cluster, choose_strategy
    from tagger.train.loop import Loop
    from tagger.train.trainer import build

    strategy, _ = choose_strategy(Cluster(), "off")
    cfg = TrainConfig(run=None, seed=seed, model="seed_cnn", image_size=image_size, epochs=1,
                      patience=0, batch_size=batch_size, lr=1e-4, schedule="constant",
                      warmup_epochs=0.0, mixed_precision="off", cache_mb=0)
    keras.utils.set_random_seed(seed)
    model, optimizer = build(cfg, n_tags, strategy, 1, 0)
    return Loop(strategy, Cluster(), model, optimizer, "bce", n_tags, batch_size)


def _examples(data_dir, dic_path, n_images):
    from tagger.train.dataset import load_examples
    from tagger.core.tags import load_dic

    tags = load_dic(dic_path)
    examples = load_examples(data_dir, tags)
    return tags, examples.subset(np.arange(len(examples.ids)) < n_images)


def train(data_dir, dic_path, n_images, epochs, mode, image_size=100, batch_size=200):
    """Train seed_cnn for `epochs` epochs in train.py's loop; mode 'pipeline' (train.py's
    tf.data, cache on) or 'memory' (float tensors already in memory, shuffled and batched)."""
    import tensorflow as tf

    from tagger.train.dataset import InputSpec, make_dataset

    tags, examples = _examples(data_dir, dic_path, n_images)
    loop = _loop(image_size, len(tags), batch_size)
    if mode == "pipeline":
        spec = InputSpec(image_size, batch_size, training=True, flip=True, shift=0.1, seed=0,
                         cache=True, repeat=True)  # train.py's defaults
        data = make_dataset(examples.paths, examples.labels, spec)
    elif mode == "memory":
        from tagger.core.images import load_rgb

        x = np.stack([np.asarray(load_rgb(p), np.float32) for p in examples.paths])
        data = tf.data.Dataset.from_tensor_slices((x, examples.labels)).shuffle(len(x)).repeat()
        data = data.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    else:
        raise ValueError(f"mode must be pipeline or memory, not {mode!r}")
    batches, steps = iter(data), max(1, len(examples.ids) // batch_size)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        loop.train_epoch(batches, steps)
        seconds.append(time.perf_counter() - start)
    return {"items": steps * batch_size, "epoch_seconds": seconds}


def model_flops(image_size=100, n_tags=38):
    """Forward FLOPs per image of seed_cnn, per layer: 2 per multiply-add of convs and denses."""
    from tagger.train.model import build_model

    model = build_model("seed_cnn", image_size, n_tags, "bce")
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, filters = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            layers.append((layer.name, 2 * h * w * filters * kh * kw * cin))
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            layers.append((layer.name, 2 * cin * cout))
    return {"layers": layers, "forward": sum(f for _, f in layers)}


def matmul_rate(n=2048, seconds=3.0):
    """GFLOP/s of repeated n x n fp32 matrix products in TensorFlow: a practical ceiling."""
    import tensorflow as tf

    a, c = tf.random.uniform((n, n)), tf.random.uniform((n, n))
    product = tf.function(tf.linalg.matmul)
    product(a, c).numpy()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        product(a, c).numpy()
        count += 1
    return 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9


def reference(image_size=100, n_tags=38):
    """seed_cnn's forward FLOPs per layer, and the matmul ceiling, in one process."""
    return {**model_flops(image_size, n_tags), "gflops": matmul_rate()}


def inference(paths, mode, repeats=3, image_size=100, n_tags=38, batch_size=256):
    """Seconds per pass over `paths` (after one warm-up pass), batched or one by one."""
    from tagger.train.model import build_model
    from tagger.infer.keras_run import Run

    model = build_model("seed_cnn", image_size, n_tags, "bce")
    run = Run(None, model, [f"tag{i}" for i in range(n_tags)], np.full(n_tags, 0.5),
              {"image_size": image_size, "fit": "pad"})

    def batched(sources):
        start = time.perf_counter()
        for _, arrays in prepare_batches(sources, image_size, run.fit, batch_size, print):
            run.predict(arrays, batch_size)
        return time.perf_counter() - start

    def one_by_one(sources):
        from bench.original import predict_one_by_one

        return predict_one_by_one(model, sources, image_size)

    once = {"batched": batched, "single": one_by_one}[mode]
    once(paths[:batch_size] if mode == "batched" else paths[:5])  # warm-up: traces predict
    return {"items": len(paths), "pass_seconds": [once(paths) for _ in range(repeats)]}


def prepare_batches(sources, size, fit, batch_size, on_error):
    """The inference path test.py and draw.py took before the tagging session: yield
    (indices, uint8 array batch) of images prepared as deal.py does; skip bad ones."""
    from tagger.core.images import prepare

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
