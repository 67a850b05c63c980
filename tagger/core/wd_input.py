"""Pictures prepared for a WD-layout tagger (448x448) as kohya-ss sd-scripts prepares them.

kohya's tag_images_by_wd14_tagger.py pads a picture to a white square first (the odd pixel
of padding goes after it, below and right), then resizes the square to 448: with Pillow's
Lanczos when it enlarges, and with OpenCV's INTER_AREA, an exact area average, when it
shrinks. Fed this way, tag.py passes the same tags as kohya's script on the same model
(bench/kohya.py); the area average here is NumPy's, within one level of OpenCV's.
"""
import numpy as np
from PIL import Image

WD_FIT = "wd"  # the fit name a WD-layout tagger asks its pictures for



def wd_square(img, size):
    """An RGB picture padded to a white square, then resized to `size` as kohya does."""
    width, height = img.size
    side = max(width, height)
    if side > size:  # the area average pads as it goes: no padded copy of a large picture
        return Image.fromarray(area_shrink(np.asarray(img), size))
    square = img
    if width != height:
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(img, ((side - width) // 2, (side - height) // 2))
    if side == size:
        return square
    return square.resize((size, size), Image.Resampling.LANCZOS)


def area_shrink(pixels, size):
    """The uint8 pixels (h, w, c) padded to a white square (the odd pixel after), then
    shrunk to (size, size, c) by an exact area average: each output pixel averages the
    square's area under it, partial pixels weighted by their overlap."""
    side = max(pixels.shape[:2])
    rows = _area_axis(pixels, size, 0, side)
    return np.clip(np.round(_area_axis(rows, size, 1, side)), 0, 255).astype(np.uint8)


def _area_axis(values, size, axis, side):
    """Area-average `values` along `axis`, centred in a white line of `side` pixels, down to
    `size`: a sum over the few source pixels each output pixel covers (a banded matrix)."""
    n, scale = values.shape[axis], side / size
    before = (side - n) // 2
    low = np.arange(size) * scale
    first = np.floor(low).astype(np.int64)
    shape = [1] * values.ndim
    shape[axis] = size
    out = np.zeros([size if a == axis else d for a, d in enumerate(values.shape)], np.float32)
    for tap in range(int(np.ceil(scale)) + 1):
        j = first + tap  # a pixel of the square under output pixel i, with its overlap
        weight = np.clip(np.minimum(low + scale, j + 1) - np.maximum(low, j), 0, None) / scale
        inside = (j >= before) & (j < before + n)
        taken = np.take(values, np.clip(j - before, 0, n - 1), axis=axis).astype(np.float32)
        if not inside.all():
            taken[(slice(None),) * axis + (~inside,)] = 255  # the white padding
        out += taken * weight.reshape(shape).astype(np.float32)
    return out
