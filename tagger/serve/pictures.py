"""Uploaded pictures read for a tagger exactly as tag.py's decoding workers read files
(tagger/infer/decoding.py decode_job: a reduced decode, then the model's input)."""
import base64
import binascii
import io
import re

from PIL import Image

from ..core.images import REDUCING_GAP, decode_rgb, model_input
from ..core.render import draw_tags
from ..infer.decoding import cap_side
from .models import Refused

DATA_URL = re.compile(r"data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.ASCII)


def from_base64(text):
    """The bytes of a base64 string or data URL; Refused (400) when it is neither."""
    if not isinstance(text, str) or not text:
        raise Refused(400, "image: give the picture as a base64 string or a data URL")
    match = DATA_URL.match(text)
    if match:
        text = text[match.end():]
    try:  # line breaks and spaces, as some encoders wrap base64, are left out
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "image: not valid base64") from None


def model_array(data, size, fit, reduced=True):
    """The model's input for picture bytes, as tag.py decodes a file by default;
    Refused (400) for bytes that are not a picture, or a decompression bomb."""
    try:
        check_pixels(data)
        img, full = decode_rgb(data, size * REDUCING_GAP if reduced else None, fit)
        return model_input(img, size, fit, full if reduced else None)
    except Exception as exc:  # Pillow raises many types for broken files
        raise Refused(400, f"image: not a readable picture ({type(exc).__name__}: "
                           f"{one_line(exc)})") from None


def check_pixels(data):
    """Refuse a picture of more pixels than Pillow's decompression-bomb limit from its header
    alone: decode_rgb's guard turns Pillow's warning into an error with catch_warnings,
    which is not thread-safe, and a server decodes in several threads at once."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise Image.DecompressionBombError(
            f"{width}x{height} pixels is over the limit of {Image.MAX_IMAGE_PIXELS:,}")


def drawn_png(data, chosen, size, fit, max_side=1600):
    """The picture drawn with its tags as draw.py draws it (decoded for --max-side), PNG."""
    img, _ = decode_rgb(data, size * REDUCING_GAP, fit, max_side)
    out = io.BytesIO()
    draw_tags(cap_side(img, max_side), chosen).save(out, "PNG")
    return out.getvalue()


def one_line(exc):
    return " ".join(str(exc).split())[:200]
