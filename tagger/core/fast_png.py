"""PNG pixels through libpng (imagecodecs' `png_decode`), about 1.5x faster than Pillow's own
PNG decoder on real pictures, wherever the two give the same pixels; elsewhere Pillow decodes.

Pillow still opens every file, so its format detection, header checks and
decompression-bomb limit stay as they are; only the pixel decode of a still PNG of 8-bit
samples (or a palette) is done here. The rest stays Pillow's: 16-bit samples and 1, 2 or
4-bit greys (whose scaling differs), animated PNGs (Pillow's first frame), a PNG with EXIF
(Pillow turns it upright), a truncated file or one libpng refuses (Pillow's own error).
Without imagecodecs (a platform it has no wheel for) Pillow decodes every PNG, with the
same result, only slower. bench/tagging.py and docs/benchmarks.md hold the measurements.
"""
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

try:
    import imagecodecs

    imagecodecs.png_decode  # loads its libpng now: a fork server's workers inherit it
except ImportError:  # an accelerator only: the same pixels come from Pillow
    imagecodecs = None

_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # libpng's output channels
_IEND = b"IEND\xaeB`\x82"  # the end chunk with its fixed CRC
_PALETTE = 3  # PNG colour type


def available():
    """True when PNGs are decoded through libpng here."""
    return imagecodecs is not None


def png_pixels(img, source):
    """The decoded picture of the PNG `img` (opened by Pillow from `source`, a path, bytes or
    BytesIO) as a new Pillow image in mode L, LA, RGB or RGBA, with any tRNS transparency as
    alpha; None when Pillow should decode it itself (img.load())."""
    if imagecodecs is None or img.format != "PNG" or getattr(img, "is_animated", False) \
            or "exif" in img.info:
        return None
    data = _bytes_of(source)
    if data is None or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    depth, colour = data[24], data[25]
    if not (depth == 8 or colour == _PALETTE) or _IEND not in data[-4096:] or b"eXIf" in data:
        return None
    try:
        pixels = imagecodecs.png_decode(data)
    except Exception:  # noqa: BLE001  (a file libpng refuses: Pillow's error says why)
        return None
    if pixels.dtype != np.uint8 or pixels.shape[:2] != img.size[::-1]:
        return None
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    picture = Image.fromarray(pixels)  # L, LA, RGB or RGBA from the channels
    return picture if picture.mode in _MODES.values() else None


def _bytes_of(source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, io.BytesIO):
        return source.getvalue()
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    return None
