"""Loading any image as RGB, resizing it to the model's square input, and validating files."""
import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from .fast_png import png_pixels
from .wd_input import WD_FIT, wd_square

FITS = ("pad", "stretch")
# A reduced decode keeps at least this many decoded pixels per output pixel before the final
# bicubic resize: Pillow's `reducing_gap` (3 is documented as indistinguishable from a fair
# resize in most cases); JPEGs are decoded at 1/2, 1/4 or 1/8 scale (draft mode) within it.
REDUCING_GAP = 3.0
# Magic numbers of the formats a booru thumbnail can have, with the extension to save under.
_SIGNATURES = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"),
               (b"GIF89a", "gif"), (b"BM", "bmp"))


def sniff_extension(data):
    """Return the file extension for image bytes, or None if they are not a known image."""
    for magic, ext in _SIGNATURES:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def truncated(data, ext):
    """True if image bytes of a known format visibly stop before their end marker: JPEG's
    EOI, PNG's IEND chunk, GIF's trailer, WebP's RIFF length. A few microseconds, against
    ~0.2 ms for decoding a thumbnail; check.py decodes every image fully later."""
    tail = data[-1024:]
    if ext == "jpg":  # 0xFFD9 only occurs as EOI in the entropy-coded data
        return b"\xff\xd9" not in tail
    if ext == "png":
        return b"IEND\xaeB`\x82" not in tail  # the IEND chunk with its fixed CRC
    if ext == "gif":
        return not data.rstrip(b"\0\r\n").endswith(b";")
    if ext == "webp":
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


def to_rgb(img):
    """Return any Pillow image as 8-bit RGB (the image itself if it already is);
    transparency is composited onto white."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode in ("La", "RGBa"):  # premultiplied alpha: colour + (1 - alpha) * white
        values = np.asarray(img, dtype=np.int32)
        flat = np.clip(values[..., :-1] + 255 - values[..., -1:], 0, 255).astype(np.uint8)
        return Image.fromarray(flat.squeeze(-1) if flat.shape[-1] == 1 else flat).convert("RGB")
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(255.0, float(values.max()))
        img = Image.fromarray(np.clip(values * (255 / top), 0, 255).round().astype(np.uint8))
    if img.has_transparency_data:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def load_rgb(source):
    """Fully decode an image file (path or bytes) and return it as RGB; raises on bad files."""
    return decode_rgb(source)[0]


def decode_rgb(source, min_side=None, fit="pad", min_long=None):
    """Decode an image file (path or bytes) as RGB; raises on bad files.

    With `min_side`, a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size (Pillow's draft
    mode), keeping its long side (`fit="pad"`) or both sides (`"stretch"`) at least that
    long, and its long side at least `min_long`; other formats are decoded whole, most
    PNGs by libpng (tagger.core.fast_png: the same pixels, faster).
    Returns (image, full-size (width, height) after any EXIF rotation).
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source) as img:
            size = img.size
            if min_side:
                long_side = max(min_side, min_long or 0) if fit == "pad" else min_long
                _draft(img, None if fit == "pad" else min_side, long_side)
            fast = png_pixels(img, source) if img.format == "PNG" else None
            if fast is not None:
                return to_rgb(fast), size
            img.load()  # decodes every byte: a truncated file raises OSError here
            if "exif" in img.info:  # only a photo's EXIF can rotate it; thumbnails rarely have one
                transposed = ImageOps.exif_transpose(img)
                if transposed.size != img.size:
                    size = size[::-1]
                img = transposed
            return to_rgb(img), size


def _draft(img, min_short, min_long):
    """Ask a JPEG decoder for the smallest 1/2^k scale that keeps the needed sides."""
    width, height = img.size
    allowed = min(min(width, height) / (min_short or 1), max(width, height) / (min_long or 1))
    scale = next((s for s in (8, 4, 2) if s <= allowed), 1)
    if scale > 1:
        img.draft(None, (width // scale, height // scale))


def fit_square(img, size, fit="pad"):
    """Resize an RGB image to size x size: pad with white keeping the aspect, or stretch."""
    if fit == "stretch":
        return img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if fit == "pad":
        return ImageOps.pad(img, (size, size), Image.Resampling.BICUBIC, color=(255, 255, 255))
    raise ValueError(f"fit must be one of {FITS}, not {fit!r}")


def prepare(source, size, fit="pad", reduced=False):
    """Load any image and return the model's input as a uint8 array of shape (size, size, 3).

    `reduced` decodes and shrinks only as much as the final resize needs (see
    `load_rgb`, `fit_reduced`); the default is exactly what deal.py did for training.
    """
    if isinstance(source, Image.Image):
        img, full = to_rgb(source), source.size
    else:
        img, full = decode_rgb(source, size * REDUCING_GAP if reduced else None, fit)
    return model_input(img, size, fit, full if reduced else None)


def model_input(img, size, fit, reduced_from=None):
    """The model's uint8 input from a decoded RGB picture; `reduced_from`: the full size of
    a picture decoded at reduced size (its geometry is kept), None for a whole decode."""
    if fit == WD_FIT:  # a WD-layout tagger's 448 square, from whatever size was decoded
        return np.asarray(wd_square(img, size), dtype=np.uint8)
    if reduced_from:
        return np.asarray(fit_reduced(img, size, fit, reduced_from), dtype=np.uint8)
    return np.asarray(fit_square(img, size, fit), dtype=np.uint8)


def fit_reduced(img, size, fit, full_size):
    """fit_square for a picture decoded at reduced size: the same geometry as the full
    picture (`full_size`) would get, with Pillow's box `reduce` before the bicubic resize."""
    if fit == "stretch":
        return img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
    if fit != "pad":
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    width, height = full_size
    if width >= height:  # ImageOps.contain's rounding, from the full picture's size
        target = (size, max(1, round(height / width * size)))
    else:
        target = (max(1, round(width / height * size)), size)
    resized = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
    if target == (size, size):
        return resized
    out = Image.new("RGB", (size, size), (255, 255, 255))
    out.paste(resized, (round((size - target[0]) / 2), round((size - target[1]) / 2)))
    return out


def validate(path, size=None):
    """Fully decode an image file; return (reason or None, pixel bytes or None)."""
    try:
        with Image.open(path) as img:
            img.load()
            mode, dims, pixels = img.mode, img.size, img.tobytes()
    except Exception as exc:  # Pillow raises many types for broken files
        return f"unreadable: {type(exc).__name__}: {exc}", None
    if mode != "RGB":
        return f"mode {mode}, expected RGB", pixels
    if size and dims != (size, size):
        return f"size {dims[0]}x{dims[1]}, expected {size}x{size}", pixels
    return None, pixels
