"""The one decode of a training image: the pixels tagging gets from the same file, bit for bit.

Tagging prepares pictures with Pillow (tagger.core.images.prepare). deal.py writes every
training image as an RGB JPEG at the model's size, and for those TensorFlow's own decoder gives
Pillow's pixels when it uses libjpeg's accurate integer DCT, as Pillow does (its default, the
fast DCT, is off by up to 15 of 255 on a dealt face), without Python. Every other file
(another size, another format, a grey, CMYK or EXIF-rotated JPEG) goes through `prepare`
itself, in Python, so training sees exactly what tagging would.
"""
import io

import numpy as np
from PIL import Image

from ..core.images import prepare

JPEG_MAGIC = b"\xff\xd8\xff"
# The header of the APP1 segment whose orientation Pillow applies, among any bytes (RE2's \C)
HAS_EXIF = r"\C*Exif\x00\x00\C*"


def _grey_jpeg():
    """A 1 x 1 one-component JPEG: a header that is never the model's input shape."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "JPEG")
    return buf.getvalue()


GREY_JPEG = _grey_jpeg()


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
    writes, and what TensorFlow decodes to Pillow's pixels. Worked out without tf.cond, which
    costs as much as the decode in a tf.data map."""
    import tensorflow as tf

    is_jpeg = tf.equal(tf.strings.substr(data, 0, len(JPEG_MAGIC)), JPEG_MAGIC)
    header = tf.where(is_jpeg, data, GREY_JPEG)  # other bytes would make the shape op fail
    shape = tf.io.extract_jpeg_shape(header, output_type=tf.int32)  # height, width, components
    return tf.logical_and(tf.reduce_all(tf.equal(shape, [image_size, image_size, 3])),
                          tf.logical_not(tf.strings.regex_full_match(data, HAS_EXIF)))


def _prepared(data, image_size, fit):
    """tagger.core.images.prepare on the bytes, run in Python inside the pipeline."""
    import tensorflow as tf

    def run(encoded):  # bytes in a pipeline; a 0-d object array when called eagerly
        return prepare(encoded.item() if isinstance(encoded, np.ndarray) else encoded,
                       image_size, fit)

    return tf.numpy_function(run, [data], tf.uint8, stateful=False)
