"""PNGs decoded by libpng (tagger.core.fast_png) give exactly Pillow's pixels, and every PNG
it leaves to Pillow still decodes, or fails, as Pillow says."""
import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tagger.core import fast_png, images
from tagger.core.images import decode_rgb, prepare

RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
PIXELS[:5, :5] = (10, 200, 30)  # a patch of the colour RGB+tRNS below makes transparent
ALPHA = RNG.integers(0, 256, (37, 53), dtype=np.uint8)


def png(img, **options):
    buf = io.BytesIO()
    img.save(buf, "PNG", **options)
    return buf.getvalue()


def gamma_chunk():
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", (45455).to_bytes(4, "big"))
    return {"pnginfo": info}


# 8-bit samples and palettes: libpng decodes these
FAST = {
    "RGB": lambda: png(Image.fromarray(PIXELS)),
    "RGBA": lambda: png(Image.fromarray(np.dstack([PIXELS, ALPHA]))),
    "L": lambda: png(Image.fromarray(PIXELS[..., 0])),
    "LA": lambda: png(Image.fromarray(np.dstack([PIXELS[..., 0], ALPHA]))),
    "P": lambda: png(Image.fromarray(PIXELS).quantize(200)),
    "P with tRNS": lambda: png(Image.fromarray(PIXELS).quantize(64), transparency=3),
    "P, 4 bits": lambda: png(Image.fromarray(PIXELS).quantize(16), bits=4),
    "RGB with tRNS": lambda: png(Image.fromarray(PIXELS), transparency=(10, 200, 30)),
    "L with tRNS": lambda: png(Image.fromarray(PIXELS[..., 0]), transparency=int(PIXELS[0, 0, 0])),
    "RGB with gAMA": lambda: png(Image.fromarray(PIXELS), **gamma_chunk()),
    "RGB, interlaced": lambda: adam7(),
}
# left to Pillow: its scaling of 16-bit and 1-bit samples differs from libpng's
PILLOW = {
    "16-bit grey": lambda: png(Image.fromarray(PIXELS[..., 0].astype(np.uint16) * 257)),
    "1-bit": lambda: png(Image.fromarray(PIXELS[..., 0] > 128)),
    "animated": lambda: animated(),
    "EXIF": lambda: with_exif(),
}


def adam7():
    """An interlaced (Adam7) RGB PNG, which Pillow does not write."""
    import struct
    import zlib

    height, width = PIXELS.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        part = PIXELS[y0::dy, x0::dx]
        if part.size:
            raw += b"".join(b"\0" + row.tobytes() for row in part)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def animated():
    frames = [Image.fromarray(PIXELS), Image.fromarray(255 - PIXELS)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def with_exif():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown turned 90 degrees
    return png(Image.fromarray(PIXELS), exif=exif.tobytes())


def pillow_rgb(data, monkeypatch):
    """What decode_rgb gives with Pillow decoding every PNG."""
    with monkeypatch.context() as patch:
        patch.setattr(fast_png, "imagecodecs", None)
        img, size = decode_rgb(data)
        return np.asarray(img), size


@pytest.mark.parametrize("kind", sorted(FAST))
def test_libpng_gives_pillows_pixels(kind, monkeypatch, tmp_path):
    data = FAST[kind]()
    with Image.open(io.BytesIO(data)) as img:
        assert fast_png.png_pixels(img, data) is not None, "this PNG should go through libpng"
    expected, size = pillow_rgb(data, monkeypatch)
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    for source in (data, str(path), path):
        img, got_size = decode_rgb(source)
        assert img.mode == "RGB" and got_size == size
        np.testing.assert_array_equal(np.asarray(img), expected)


@pytest.mark.parametrize("kind", sorted(PILLOW))
def test_what_libpng_leaves_to_pillow_decodes_as_before(kind, monkeypatch):
    data = PILLOW[kind]()
    with Image.open(io.BytesIO(data)) as img:
        assert fast_png.png_pixels(img, data) is None
    expected, size = pillow_rgb(data, monkeypatch)
    img, got_size = decode_rgb(data)
    np.testing.assert_array_equal(np.asarray(img), expected)
    assert got_size == size
    if kind == "EXIF":
        assert img.size == (37, 53)  # turned upright, as Pillow's exif_transpose does


def test_model_inputs_are_the_same_on_real_sized_pictures(monkeypatch, tmp_path):
    """The whole reduced decode tag.py runs, at 64 px and in the WD layout."""
    big = np.kron(PIXELS, np.ones((20, 20, 1), np.uint8))  # 740 x 1060
    path = tmp_path / "big.png"
    Image.fromarray(np.dstack([big, np.full(big.shape[:2], 200, np.uint8)])).save(path)
    fast = [prepare(path, 64, fit, reduced=True) for fit in ("pad", "stretch")]
    monkeypatch.setattr(fast_png, "imagecodecs", None)
    slow = [prepare(path, 64, fit, reduced=True) for fit in ("pad", "stretch")]
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


def test_a_truncated_png_fails_as_pillow_says(tmp_path):
    data = FAST["RGB"]()
    path = tmp_path / "cut.png"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(OSError, match="truncated|broken|Truncated"):
        decode_rgb(path)


def test_a_png_with_damaged_pixels_fails_with_pillows_error(monkeypatch, tmp_path):
    data = bytearray(FAST["RGB"]())
    start = data.index(b"IDAT") + 40
    data[start:start + 40] = bytes(40)  # damaged pixel data, the end chunk intact
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(Exception) as fast:
        decode_rgb(path)
    monkeypatch.setattr(fast_png, "imagecodecs", None)
    with pytest.raises(Exception) as slow:
        decode_rgb(path)
    assert (type(fast.value), str(fast.value)) == (type(slow.value), str(slow.value))


def test_the_decompression_bomb_limit_still_holds(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(Image.DecompressionBombError):
        decode_rgb(FAST["RGB"]())


def test_imagecodecs_is_installed_here():
    """requirements.txt brings it; without it PNGs are only slower."""
    assert fast_png.available()
    assert images.png_pixels is fast_png.png_pixels
