"""Pictures for WD-layout taggers, prepared as kohya-ss sd-scripts prepares them: padded to a
white square first, then Lanczos up or an exact area average down to 448."""
import numpy as np
from PIL import Image

from tagger.core.images import model_input, prepare
from tagger.core.wd_input import area_shrink, wd_square


def brute_area(pixels, size):
    """The area average by definition, of the picture padded white to a square (the odd
    pixel after, as kohya pads): each output pixel, the overlap-weighted mean."""
    height, width = pixels.shape[:2]
    n = max(height, width)
    square = np.full((n, n, 3), 255, np.uint8)
    top, left = (n - height) // 2, (n - width) // 2
    square[top:top + height, left:left + width] = pixels
    pixels = square
    edges = np.arange(size + 1) * (n / size)
    weights = np.zeros((size, n))
    for i in range(size):
        for j in range(int(edges[i]), min(n, int(np.ceil(edges[i + 1])))):
            weights[i, j] = min(edges[i + 1], j + 1) - max(edges[i], j)
    weights /= n / size
    out = np.stack([weights @ pixels[..., c] @ weights.T for c in range(pixels.shape[2])], -1)
    return np.round(out).astype(np.uint8)


def test_the_area_average_is_exact_for_any_factor():
    rng = np.random.default_rng(0)
    for (height, width), size in (((23, 23), 7), ((96, 31), 32), ((1100, 1313), 448),
                                  ((449, 448), 448), ((300, 451), 448)):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        assert np.abs(area_shrink(pixels, size).astype(int) - brute_area(pixels, size)).max() <= 1


def test_a_flat_picture_stays_flat_and_edges_are_averaged_not_sampled():
    pixels = np.zeros((900, 900, 3), np.uint8)
    pixels[:, 450:] = 200  # the edge falls inside output column 224 (450 / (900 / 448) = 224.0)
    out = area_shrink(pixels, 448)
    assert (out[:, :224] == 0).all() and (out[:, 225:] == 200).all()
    pixels[:, 450] = 0  # now the edge cuts column 224 partway: a blend, not one side or the other
    assert 0 < area_shrink(pixels, 448)[0, 224, 0] < 200


def test_pictures_are_padded_white_first_with_the_odd_pixel_after():
    img = Image.new("RGB", (3, 6), (0, 0, 0))
    square = np.asarray(wd_square(img, 6))
    assert (square[:, :1] == 255).all() and (square[:, 1:4] == 0).all()
    assert (square[:, 4:] == 255).all()  # (6 - 3) // 2 = 1 before, 2 after


def test_small_pictures_are_enlarged_with_lanczos(tmp_path):
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    lanczos = np.asarray(img.resize((448, 448), Image.Resampling.LANCZOS))
    assert (model_input(img, 448, "wd") == lanczos).all()
    img.save(tmp_path / "small.png")
    assert (prepare(tmp_path / "small.png", 448, "wd", reduced=True) == lanczos).all()


def test_a_reduced_jpeg_decode_stays_close_to_the_whole_one(tmp_path):
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(base).resize((1800, 2400), Image.Resampling.BICUBIC).save(tmp_path / "big.jpg")
    whole = prepare(tmp_path / "big.jpg", 448, "wd").astype(int)
    reduced = prepare(tmp_path / "big.jpg", 448, "wd", reduced=True).astype(int)
    assert whole.shape == reduced.shape == (448, 448, 3)
    assert np.abs(whole - reduced).mean() < 2
