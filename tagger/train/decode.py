"""The one decode of a training image: the pixels tagging gets from the same file, bit for bit.

Tagging prepares pictures with Pillow (tagger.core.images.prepare). deal.py writes every
training image as an RGB JPEG at the model's size, and for those TensorFlow's own decoder gives
Pillow's pixels when it uses libjpeg's accurate integer DCT, as Pillow does (its default fast
DCT is off by up to 15 of 255 on a dealt face), in a fraction of the time. Every other file
(another size, another format, a grey, CMYK or EXIF-rotated JPEG) goes through `prepare`
itself, in Python, so training sees exactly what tagging would.
"""
import numpy as np

from ..core.images import prepare

JPEG_MAGIC = b"\xff\xd8\xff"
EXIF_HEADER = b"Exif\x00\x00"  # opens the APP1 segment whose orientation Pillow applies
EXIF_SEARCH = 65536  # bytes at the start of a JPEG where that segment can be


def decode(data, image_size, fit="pad"):
    """Encoded image bytes to the model's uint8 (image_size, image_size, 3) input tensor, the
    pixels tagger.core.images.prepare(file, image_size, fit) returns."""
    import tensorflow as tf

    image = tf.cond(is_plain_jpeg(data, image_size),
                    lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                    lambda: _prepared(data, image_size, fit))
    return tf.ensure_shape(image, (image_size, image_size, 3))


def is_plain_jpeg(data, image_size):
    """Whether the bytes are an RGB JPEG of image_size x image_size without EXIF: what deal.py
    writes, and what TensorFlow decodes to Pillow's pixels."""
    import tensorflow as tf

    def at_size():
        shape = tf.io.extract_jpeg_shape(data, output_type=tf.int32)  # height, width, components
        return tf.reduce_all(tf.equal(shape, [image_size, image_size, 3]))

    def no_exif():
        return tf.logical_not(_contains(tf.strings.substr(data, 0, EXIF_SEARCH), EXIF_HEADER))

    is_jpeg = tf.equal(tf.strings.substr(data, 0, len(JPEG_MAGIC)), JPEG_MAGIC)
    sized = tf.cond(is_jpeg, at_size, lambda: tf.constant(False))
    return tf.cond(sized, no_exif, lambda: tf.constant(False))


def _contains(data, pattern):
    """Whether a scalar string tensor holds the byte string `pattern` anywhere."""
    import tensorflow as tf

    values = tf.io.decode_raw(data, tf.uint8)
    starts = tf.maximum(tf.size(values) - len(pattern) + 1, 0)
    found = tf.ones([starts], tf.bool)
    for k, byte in enumerate(pattern):
        found = tf.logical_and(found, tf.equal(values[k:k + starts], byte))
    return tf.reduce_any(found)


def _prepared(data, image_size, fit):
    """tagger.core.images.prepare on the bytes, run in Python inside the pipeline."""
    import tensorflow as tf

    def run(encoded):  # bytes in a pipeline; a 0-d object array when called eagerly
        return prepare(encoded.item() if isinstance(encoded, np.ndarray) else encoded,
                       image_size, fit)

    return tf.numpy_function(run, [data], tf.uint8, stateful=False)
