"""Image loading in any mode, square fitting, and full-decode validation."""
import io

import numpy as np
import pytest
from PIL import Image

from conftest import image_bytes
from tagger.core.images import fit_square, load_rgb, prepare, sniff_extension, truncated, validate


def encode(img, fmt="PNG", **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_transparency_goes_onto_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    img = load_rgb(encode(rgba))
    assert img.mode == "RGB" and img.getpixel((1, 1)) == (255, 255, 255)
    assert img.getpixel((0, 0)) == (255, 0, 0)
    la = Image.new("LA", (4, 4), (0, 0))
    assert load_rgb(encode(la)).getpixel((0, 0)) == (255, 255, 255)
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 255, 0, 0, 0, 255])
    pal.info["transparency"] = 0
    assert load_rgb(encode(pal, transparency=0)).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("1", "PNG"), ("CMYK", "JPEG"), ("P", "GIF"),
                                      ("I;16", "PNG"), ("RGB", "WEBP"), ("RGB", "BMP")])
def test_every_mode_becomes_rgb(mode, fmt):
    if mode == "I;16":
        img = Image.fromarray(np.full((6, 6), 65535, dtype=np.uint16))
    else:
        img = Image.new("RGB", (6, 6), (250, 250, 250)).convert(mode)
    out = load_rgb(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (6, 6)
    assert min(out.getpixel((2, 2))) > 200  # a near-white image stays near white


def test_pad_keeps_aspect_with_white_bars_and_stretch_fills():
    wide = Image.new("RGB", (200, 100), (0, 0, 200))
    padded = np.asarray(fit_square(wide, 100, "pad"))
    assert padded.shape == (100, 100, 3)
    assert (padded[:20] == 255).all() and (padded[-20:] == 255).all()  # bars top and bottom
    assert tuple(padded[50, 50]) == (0, 0, 200)
    stretched = np.asarray(fit_square(wide, 100, "stretch"))
    assert (stretched[:, :, 2] == 200).all()


def test_prepare_matches_training_input():
    arr = prepare(image_bytes(size=(150, 120)), 64)
    assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8


def test_truncated_jpeg_is_caught_where_verify_is_not(tmp_path):
    data = image_bytes(size=(100, 100), quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])
    Image.open(path).verify()  # Pillow's verify() alone does not notice
    reason, _ = validate(path, 100)
    assert reason.startswith("unreadable") and "truncated" in reason
    good = tmp_path / "good.jpg"
    good.write_bytes(data)
    assert validate(good, 100)[0] is None
    assert validate(good, 64)[0] == "size 100x100, expected 64x64"


def test_sniff_extension():
    assert sniff_extension(image_bytes()) == "jpg"
    assert sniff_extension(image_bytes(fmt="PNG")) == "png"
    assert sniff_extension(image_bytes(fmt="WEBP")) == "webp"
    assert sniff_extension(b"<!DOCTYPE html>") is None


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif"),
                                     ("WEBP", "webp")])
def test_truncated_spots_a_body_cut_short_in_every_thumbnail_format(fmt, ext):
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), fmt)
    assert sniff_extension(data) == ext and not truncated(data, ext)
    for keep in (len(data) // 3, len(data) * 2 // 3, len(data) - 1):
        assert truncated(data[:keep], ext), keep
