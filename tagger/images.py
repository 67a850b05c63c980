"""Loading any image as RGB, resizing it to the model's square input, and validating files."""
import io
import warnings

import numpy as np
from PIL import Image, ImageOps

FITS = ("pad", "stretch")
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
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source) as img:
            img.load()  # decodes every byte: a truncated file raises OSError here
            if "exif" in img.info:  # only a photo's EXIF can rotate it; thumbnails rarely have one
                img = ImageOps.exif_transpose(img)
            return to_rgb(img)


def fit_square(img, size, fit="pad"):
    """Resize an RGB image to size x size: pad with white keeping the aspect, or stretch."""
    if fit == "stretch":
        return img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if fit == "pad":
        return ImageOps.pad(img, (size, size), Image.Resampling.BICUBIC, color=(255, 255, 255))
    raise ValueError(f"fit must be one of {FITS}, not {fit!r}")


def prepare(source, size, fit="pad"):
    """Load any image and return the model's input as a uint8 array of shape (size, size, 3)."""
    img = to_rgb(source) if isinstance(source, Image.Image) else load_rgb(source)
    return np.asarray(fit_square(img, size, fit), dtype=np.uint8)


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
