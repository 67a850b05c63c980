"""The tagger's networks: the original 11-layer CNN and a compact residual network."""
import keras
from keras import layers, regularizers

from .config import LOSSES, MODELS
from .layers import FusedBatchNormalization


def _head(x, n_tags, loss):
    """Final dense layer with one sigmoid per tag (bce, asl) or a softmax over tags; float32 out."""
    x = layers.Dense(n_tags, name="logits")(x)
    activation = "softmax" if loss == "softmax" else "sigmoid"
    return layers.Activation(activation, dtype="float32", name="scores")(x)


def seed_cnn(image_size, n_tags, loss="bce"):
    """The original student project's network: 4 conv + pool blocks and 3 dense layers."""
    l2 = regularizers.l2(1e-4)
    inputs = keras.Input((image_size, image_size, 3), name="image")  # 0..255 RGB
    x = layers.Rescaling(1 / 255)(inputs)
    for filters, kernel in ((32, 5), (64, 5), (128, 3), (128, 3)):
        x = layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    for units in (1024, 512):
        x = layers.Dense(units, activation="relu", kernel_regularizer=l2)(x)
        x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _head(x, n_tags, loss), name="seed_cnn")


def _bn():
    """Batch normalisation whose inference statistics settle within a few hundred steps
    (Keras's default momentum of 0.99 still holds 22% of the initial guess after 150), in
    TensorFlow's fused kernel."""
    return FusedBatchNormalization(momentum=0.9)


def _res_block(x, filters, stride):
    """A pre-activation residual block of two 3x3 convolutions."""
    shortcut = x
    y = _bn()(x)
    y = layers.Activation("relu")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(y)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(y)
    y = _bn()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    return layers.Add()([shortcut, y])


def resnet(image_size, n_tags, loss="bce", widths=(32, 64, 128, 256), blocks=(1, 1, 1, 1),
           dropout=0.2):
    """A compact residual network: a strided stem, one stage per width, global pooling."""
    inputs = keras.Input((image_size, image_size, 3), name="image")  # 0..255 RGB
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(x)
    for i, (filters, n) in enumerate(zip(widths, blocks)):
        for k in range(n):
            x = _res_block(x, filters, stride=2 if i > 0 and k == 0 else 1)
    x = _bn()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, n_tags, loss), name="resnet")


def build_model(name, image_size, n_tags, loss="bce"):
    """Build one of MODELS for square RGB inputs of `image_size` with values 0..255."""
    builders = {"seed_cnn": seed_cnn, "resnet": resnet}
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return builders[name](image_size, n_tags, loss)
