"""The model stages, each call run in its own process by bench/run.py: training and inference.

Training goes through train.py's real input pipeline (load_examples, make_dataset, then
model.fit as tagger/fit.py does) or fits the same compiled model on tensors already in
memory (the compute ceiling). Inference is test.py's and draw.py's way (prepare_batches,
then batched Run.predict) or the original's: one image per model.predict call.
"""
import time

import numpy as np


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Seconds of every epoch."""

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _compiled_model(image_size, n_tags, seed=0):
    import keras

    from tagger.model import build_model
    from tagger.training import compile_model

    keras.utils.set_random_seed(seed)
    model = build_model("seed_cnn", image_size, n_tags, "bce")
    return compile_model(model, "bce", 1e-4, n_tags)


def _examples(data_dir, dic_path, n_images):
    from tagger.dataset import load_examples
    from tagger.tags import load_dic

    tags = load_dic(dic_path)
    examples = load_examples(data_dir, tags)
    return tags, examples.subset(np.arange(len(examples.ids)) < n_images)


def train(data_dir, dic_path, n_images, epochs, mode, image_size=100, batch_size=200):
    """Fit seed_cnn for `epochs` epochs; mode 'pipeline' (train.py's tf.data) or 'memory'."""
    from tagger.dataset import make_dataset

    tags, examples = _examples(data_dir, dic_path, n_images)
    model = _compiled_model(image_size, len(tags))
    timer = _epoch_timer()
    if mode == "pipeline":
        data = make_dataset(examples.paths, examples.labels, image_size, batch_size,
                            training=True, flip=True, shift=0.1, seed=0, cache=True)  # train.py's defaults
        model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[timer])
    elif mode == "memory":
        from tagger.images import load_rgb

        x = np.stack([np.asarray(load_rgb(p), np.float32) for p in examples.paths])
        model.fit(x, examples.labels, batch_size=batch_size, epochs=epochs, shuffle=True,
                  verbose=0, callbacks=[timer])
    else:
        raise ValueError(f"mode must be pipeline or memory, not {mode!r}")
    return {"items": len(examples.ids), "epoch_seconds": timer.seconds}


def model_flops(image_size=100, n_tags=38):
    """Forward FLOPs per image of seed_cnn, per layer: 2 per multiply-add of convs and denses."""
    from tagger.model import build_model

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
    from tagger.model import build_model
    from tagger.runs import Run, prepare_batches

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
