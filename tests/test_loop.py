"""The training loop's checkpoints: a restart gets the weights, optimizer, epoch and the
early-stopping state back."""
import numpy as np


def _model_and_optimizer():
    import keras

    from tagger.train.model import build_model

    model = build_model("seed_cnn", 16, 3)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def test_checkpoints_bring_back_weights_optimizer_epoch_and_early_stopping(tmp_path):
    from tagger.train.loop import Checkpoints

    model, optimizer = _model_and_optimizer()
    fresh = Checkpoints(tmp_path / "checkpoints", model, optimizer)
    assert fresh.restore() == (0, None, 0)
    model.layers[-2].kernel.assign(np.full(model.layers[-2].kernel.shape, 0.5))
    optimizer.iterations.assign(42)
    fresh.save(3, 0.25, 2, str(tmp_path / "checkpoints"))
    fresh.save(4, 0.25, 3, str(tmp_path / "checkpoints"))

    model2, optimizer2 = _model_and_optimizer()
    again = Checkpoints(tmp_path / "checkpoints", model2, optimizer2)
    assert again.restore() == (4, 0.25, 3)  # the last save
    assert np.all(model2.layers[-2].kernel.numpy() == 0.5)
    assert int(optimizer2.iterations.numpy()) == 42
    assert len(list((tmp_path / "checkpoints").glob("ckpt-*.index"))) == 2  # the last two kept
