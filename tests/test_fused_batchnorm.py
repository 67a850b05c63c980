"""tagger.train.layers.FusedBatchNormalization: Keras's batch normalisation in one fused op,
with the same outputs, gradients and statistics, and model files that load in a fresh process."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


def _pair(channels, momentum=0.9, shape=None):
    import keras

    from tagger.train.layers import FusedBatchNormalization

    rng = np.random.default_rng(0)
    weights = [rng.normal(1, 0.2, channels), rng.normal(0, 0.2, channels),
               rng.normal(0, 0.5, channels), rng.uniform(0.5, 2, channels)]
    layers = FusedBatchNormalization(momentum=momentum), keras.layers.BatchNormalization(
        momentum=momentum)
    for layer in layers:
        layer.build(shape or (None, 8, 8, channels))
        layer.set_weights([w.astype(np.float32) for w in weights])
    return layers


def test_it_computes_what_keras_batch_normalization_computes():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(1).normal(2, 3, (32, 8, 8, 16)), tf.float32)
    r = tf.constant(np.random.default_rng(2).normal(size=x.shape), tf.float32)
    fused, keras_bn = _pair(16)
    grads = []
    for layer in (fused, keras_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * r)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True), atol=2e-5)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean, keras_bn.moving_mean, atol=1e-5)
    n = 32 * 8 * 8  # the fused op keeps the unbiased variance: n / (n - 1) of Keras's
    np.testing.assert_allclose(fused.moving_variance, keras_bn.moving_variance, rtol=2 / n)
    fused.set_weights(keras_bn.get_weights())
    np.testing.assert_allclose(fused(x, training=False), keras_bn(x, training=False), atol=2e-5)


def test_frozen_and_non_image_inputs_take_keras_path():
    import tensorflow as tf

    fused, keras_bn = _pair(16)
    fused.trainable = keras_bn.trainable = False  # fine-tuning: the moving statistics stay
    x = tf.constant(np.random.default_rng(3).normal(size=(4, 8, 8, 16)), tf.float32)
    before = fused.moving_mean.numpy().copy()
    np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True), atol=2e-5)
    np.testing.assert_array_equal(fused.moving_mean, before)
    fused, keras_bn = _pair(16, shape=(None, 16))
    flat = x[:, 0, 0]  # 2-D: Keras's own code
    np.testing.assert_allclose(fused(flat, training=True), keras_bn(flat, training=True),
                               atol=2e-5)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_it_trains_under_either_precision(policy):
    import keras

    from tagger.train.layers import FusedBatchNormalization

    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = FusedBatchNormalization()
        y = layer(np.ones((2, 4, 4, 3), np.float32) * np.arange(3), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == layer.compute_dtype and np.isfinite(keras.ops.convert_to_numpy(y)).all()


def test_a_saved_resnet_loads_as_tag_py_loads_it_in_a_fresh_process(tmp_path):
    from tagger.train.model import build_model

    model = build_model("resnet", 32, 3)
    assert any(type(layer).__name__ == "FusedBatchNormalization" for layer in model.layers)
    model.save(tmp_path / "model.keras")
    (tmp_path / "dic.txt").write_text("a\nb\nc\n")
    (tmp_path / "args.json").write_text('{"image_size": 32, "fit": "pad"}')
    x = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[2]); "
            "from tagger.infer.keras_run import load_run; "
            "run = load_run(sys.argv[1]); x = np.load(sys.argv[1] + '/x.npy'); "
            "print(float(abs(run.model.predict(x, verbose=0) - np.load(sys.argv[1] + '/y.npy')).max()))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-5
