"""The graphs an export writes: the bare network, and the WD14 tagger layout around it.

The WD14 layout (the one kohya-ss sd-scripts, the webui tagger extension and imgutils load)
takes BGR pictures of 0..255 padded to a white 448x448 square and returns the probabilities
of 4 rating pseudo-tags and then the tags, plus an embedding. Inside it: BGR to RGB, a resize
from 448 to the run's input size as two matrix products (which ONNX runs as MatMul exactly as
TensorFlow does, unlike resize ops that convert differently), then the trained network.
The resize is Pillow's antialiased bicubic by default, the one deal.py and draw.py prepare
pictures with, or an exact area average.
"""
import keras
import numpy as np
from keras import layers, ops
from PIL import Image

WD14_SIZE = 448  # px; kohya's script hard-codes it, the webui reads it from the input shape
RATING_TAGS = ("general", "sensitive", "questionable", "explicit")
THRESHOLD_CLIP = 1e-6  # tuned thresholds of 0 or 1 have no finite logit
RESIZES = ("bicubic", "area")


def area_matrix(source, target):
    """(target, source) weights of an area-average resize along one axis: row i averages
    the source pixels under output pixel i, partial pixels weighted by their overlap."""
    edges = np.arange(target + 1) * (source / target)
    weights = np.zeros((target, source))
    for i in range(target):
        lo, hi = edges[i], edges[i + 1]
        for j in range(int(np.floor(lo)), min(source, int(np.ceil(hi)))):
            weights[i, j] = min(hi, j + 1) - max(lo, j)
    return weights / (source / target)


def bicubic_matrix(source, target):
    """(target, source) weights of Pillow's bicubic resize along one axis (antialiased when
    shrinking: the kernel widens with the scale), read off Pillow itself one pixel at a time."""
    weights = np.zeros((target, source))
    for j in range(source):
        pixel = np.zeros((1, source), np.float32)
        pixel[0, j] = 1
        line = Image.fromarray(pixel, "F").resize((target, 1), Image.Resampling.BICUBIC)
        weights[:, j] = np.asarray(line)[0]
    return weights


def resize_matrix(source, target, method):
    """The one-axis weights of `method` (one of RESIZES)."""
    if method not in RESIZES:
        raise ValueError(f"resize must be one of {', '.join(RESIZES)}, not {method!r}")
    return area_matrix(source, target) if method == "area" else bicubic_matrix(source, target)


class MatrixResize(layers.Layer):
    """Separable resize of square NHWC pictures: out = A @ picture @ A.T per channel."""

    def __init__(self, weights, **kwargs):
        super().__init__(**kwargs)
        self.weights_matrix = np.asarray(weights, np.float32)

    def call(self, x):
        a = ops.convert_to_tensor(self.weights_matrix)
        x = ops.transpose(x, (0, 3, 1, 2))                # (b, 3, source, source)
        x = ops.matmul(ops.matmul(a, x), ops.transpose(a))  # (b, 3, target, target)
        return ops.transpose(x, (0, 2, 3, 1))


class SwapRedBlue(layers.Layer):
    """BGR to RGB (and back): the channels in reverse order."""

    def call(self, x):
        return ops.take(x, np.array([2, 1, 0]), axis=-1)


class WithRatings(layers.Layer):
    """Prepend the 4 rating columns (always 0: this tagger does not rate) to the tag scores."""

    def call(self, scores):
        zero = ops.zeros_like(scores[:, :1])
        return ops.concatenate([zero] * len(RATING_TAGS) + [scores], axis=1)


def is_sigmoid(model):
    """True if the network scores each tag with its own sigmoid (bce, asl), not a softmax."""
    return model.get_layer("scores").activation.__name__ == "sigmoid"


def logit(p):
    p = np.clip(np.asarray(p, np.float64), THRESHOLD_CLIP, 1 - THRESHOLD_CLIP)
    return np.log(p) - np.log1p(-p)


def folded_bias_shift(thresholds, tool_threshold):
    """What to add to the last layer's bias so that score >= tool_threshold exactly when the
    unshifted score >= the tag's own threshold: sigmoid is monotonic, so shifting the logit
    by logit(tool) - logit(t) moves each tag's threshold onto the tool's."""
    return logit(tool_threshold) - logit(thresholds)


def scores_with_bias_shift(model, features, shift):
    """The run's last dense layer and sigmoid on `features`, with `shift` added to its bias."""
    kernel, bias = model.get_layer("logits").get_weights()
    dense = layers.Dense(kernel.shape[1], name="folded_logits")
    dense.build(features.shape)
    dense.set_weights([kernel, (bias.astype(np.float64) + shift).astype(np.float32)])
    return layers.Activation("sigmoid", name="folded_scores")(dense(features))


def wd14_model(model, image_size, bias_shift=None, resize="bicubic"):
    """The run's network wrapped in the WD14 layout: BGR 448 in, [ratings + scores, embedding]
    out. `bias_shift` (per tag) folds tuned thresholds in; sigmoid models only."""
    inner = keras.Model(model.inputs, [model.get_layer("logits").input, model.outputs[0]])
    picture = keras.Input((WD14_SIZE, WD14_SIZE, 3), name="input")  # BGR, 0..255
    rgb = SwapRedBlue(name="bgr_to_rgb")(picture)
    weights = resize_matrix(WD14_SIZE, image_size, resize)
    resized = MatrixResize(weights, name=f"{resize}_resize")(rgb)
    embedding, scores = inner(resized)
    if bias_shift is not None:
        if not is_sigmoid(model):
            raise ValueError("tuned thresholds fold into a sigmoid's bias only; this run was "
                             "trained with --loss softmax: export it without --tuned")
        scores = scores_with_bias_shift(model, embedding, bias_shift)
    probabilities = WithRatings(name="ratings_and_tags")(scores)
    return keras.Model(picture, [probabilities, embedding], name="wd14_tagger")
