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
CHUNK = 512  # columns per pass of the area average: bounds its memory on huge pictures


def wd_square(img, size):
    """An RGB picture padded to a white square, then resized to `size` as kohya does."""
    width, height = img.size
    side = max(width, height)
    square = img
    if width != height:
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(img, ((side - width) // 2, (side - height) // 2))
    if side == size:
        return square
    if side < size:
        return square.resize((size, size), Image.Resampling.LANCZOS)
    return Image.fromarray(area_shrink(np.asarray(square), size))


def area_shrink(pixels, size):
    """An exact area average of uint8 pixels (h, w, c) down to (size, size, c): each output
    pixel averages the input area under it, partial pixels weighted by their overlap."""
    rows = np.concatenate([_area_axis(pixels[:, i:i + CHUNK], size, 0)
                           for i in range(0, pixels.shape[1], CHUNK)], axis=1)
    out = _area_axis(rows, size, 1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _area_axis(values, size, axis):
    """Area-average `values` along `axis` down to `size` entries, through prefix sums."""
    n = values.shape[axis]
    values = np.moveaxis(np.asarray(values, np.float64), axis, 0)
    prefix = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    edges = np.arange(size + 1) * (n / size)
    whole = np.minimum(np.floor(edges).astype(np.int64), n)
    part = (edges - whole).reshape(-1, *[1] * (values.ndim - 1))
    below = prefix[whole] + part * values[np.minimum(whole, n - 1)]
    return np.moveaxis(np.diff(below, axis=0) * (size / n), 0, axis)
