"""Tests for tagger.core.render: tags drawn on pictures, charts, the TensorBoard grid."""
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
from PIL import Image

from tagger.core import render
from tagger.infer import charts

TAGS = [("blonde_hair", 0.97), ("blue_eyes", 0.91), ("1girl", 0.88),
        ("smile", 0.64), ("short_hair", 0.41), ("school_uniform", 0.12)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def colourful(width, height, seed=0):
    """A noisy colour picture with no pixel lighter than 200, so lighter output pixels are text."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 200 // max(width, 1), y * 200 // max(height, 1), (x + y) % 200], -1)
    noise = rng.integers(0, 30, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 200).astype(np.uint8))


def text_lines(region, original=None):
    """Heights of the bands of rows holding light pixels (every channel above 150) that differ
    from the same pixels of `original`, if given: the drawn text."""
    pixels = np.asarray(region.convert("RGB"))
    light = (pixels > 150).all(axis=-1)
    if original is not None:
        light &= (pixels != np.asarray(original.convert("RGB"))).any(axis=-1)
    rows = light.any(axis=1)
    heights, run = [], 0
    for has_text in list(rows) + [False]:
        if has_text:
            run += 1
        elif run:
            heights.append(run)
            run = 0
    return heights


def test_label_font_size_is_legible_and_scales():
    assert render.label_font_size((100, 100)) >= 12
    assert render.label_font_size((3840, 2160)) >= 0.02 * 2160
    assert render.label_font_size((3840, 2160)) > render.label_font_size((1280, 720))


def test_small_picture_is_enlarged_with_tags_beside_it():
    thumb = colourful(100, 100)
    out = render.draw_tags(thumb, TAGS)
    assert out.mode == "RGB" and out.height >= 400 and out.width > 400
    shrunk = out.crop((0, 0, 400, 400)).resize((100, 100), Image.Resampling.LANCZOS)
    difference = np.abs(np.asarray(shrunk, dtype=int) - np.asarray(thumb, dtype=int))
    assert difference.mean() < 8
    font_px = render.label_font_size((400, 400))
    lines = text_lines(out.crop((400, 0, out.width, out.height)))
    assert len(lines) == len(TAGS)
    assert min(lines) >= 0.5 * font_px and font_px >= 12
    assert len(text_lines(out.crop((400, 0, 460, out.height)))) == len(TAGS), "tag names missing"


def test_medium_picture_is_not_covered_or_resampled():
    picture = colourful(500, 450)
    out = render.draw_tags(picture, TAGS)
    assert out.height == 450 and out.width > 500
    assert np.array_equal(np.asarray(out.crop((0, 0, 500, 450))), np.asarray(picture))


def test_4k_screenshot_gets_a_legible_panel_in_its_corner():
    screenshot = colourful(3840, 2160, seed=1).rotate(180)  # light in the top-left corner
    before = np.asarray(screenshot).copy()
    out = render.draw_tags(screenshot, TAGS)
    assert out.size == (3840, 2160)
    assert np.array_equal(np.asarray(screenshot), before), "the input was modified"
    after = np.asarray(out)
    assert np.array_equal(after[1080:, 1920:], before[1080:, 1920:])
    assert after[60:300, 60:300].mean() < before[60:300, 60:300].mean() - 40, "no dark panel"
    font_px = render.label_font_size(out.size)
    assert font_px >= max(12, 0.02 * 2160)
    lines = text_lines(out, original=screenshot)
    assert len(lines) == len(TAGS)
    assert min(lines) >= 0.5 * font_px
    names = text_lines(out.crop((0, 0, 300, 2160)), original=screenshot.crop((0, 0, 300, 2160)))
    assert len(names) == len(TAGS), "tag names missing"


def test_too_many_tags_for_the_picture_are_summarised():
    many = [(f"tag_{i}", 1 - i / 100) for i in range(100)]
    out = render.draw_tags(colourful(900, 720), many)
    assert out.size == (900, 720)
    assert 10 < len(text_lines(out)) < 100


@pytest.mark.parametrize("size", [(1, 1), (60, 300), (3000, 150)])
def test_odd_sizes_still_get_legible_tags(size):
    out = render.draw_tags(colourful(*size).point(lambda v: v // 2), TAGS[:3])
    assert out.width >= size[0] and out.height >= size[1]
    assert len(text_lines(out)) == 3


def test_no_tags_says_so():
    out = render.draw_tags(colourful(100, 100), [])
    assert out.width > 400


def split_picture(mode):
    """A 100x100 picture in `mode`: left half transparent or dark, right half mid-grey."""
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[:, :50] = (255, 0, 0, 0)
    rgba[:, 50:] = (128, 128, 128, 255)
    if mode == "I;16":
        values = np.zeros((100, 100), np.uint16)
        values[:, 50:] = 128 * 257
        return Image.fromarray(values)
    if mode == "La":
        la = np.zeros((100, 100, 2), np.uint8)
        la[:, 50:] = (128, 255)
        return Image.frombytes("La", (100, 100), la.tobytes())
    if mode == "1":
        return Image.fromarray(rgba[..., 3] > 0)
    if mode in ("P", "RGBa", "LA", "PA", "RGBA"):
        return Image.fromarray(rgba).convert(mode)
    return Image.fromarray(rgba[..., :3]).convert("L").convert(mode)


@pytest.mark.parametrize("mode, left", [
    ("P", 255), ("RGBA", 255), ("RGBa", 255), ("LA", 255), ("La", 255), ("PA", 255),
    ("L", 76), ("CMYK", 76), ("I;16", 0), ("I", 76), ("F", 76), ("1", 0),
])
def test_any_mode_is_drawn_in_rgb_with_transparency_on_white(mode, left):
    picture = split_picture(mode)
    assert picture.mode == mode
    out = render.draw_tags(picture, TAGS)
    assert out.mode == "RGB" and out.size[1] >= 400
    left_pixel, right_pixel = out.getpixel((100, 200)), out.getpixel((300, 200))
    right = 255 if mode == "1" else 128
    assert all(abs(c - left) <= 3 for c in left_pixel), left_pixel
    assert all(abs(c - right) <= 3 for c in right_pixel), right_pixel


def assert_png(path, min_size):
    """`path` is a complete PNG of at least `min_size`, alone in its folder."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width >= min_size[0] and image.height >= min_size[1]
    assert os.listdir(path.parent) == [path.name], "temporary file left behind"


def test_save_pie_draws_green_and_red_wedges(tmp_path):
    path = tmp_path / "pie.png"
    charts.save_pie(4812, 1188, path)
    assert_png(path, (300, 300))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    green = ((pixels[..., 1] > 120) & (pixels[..., 0] < 90)).sum()
    red = ((pixels[..., 0] > 180) & (pixels[..., 1] < 100)).sum()
    assert green > 3 * red > 0


@pytest.mark.parametrize("correct, incorrect", [(0, 0), (-1, 5), (float("nan"), 1)])
def test_save_pie_rejects_nonsense(tmp_path, correct, incorrect):
    with pytest.raises(ValueError):
        charts.save_pie(correct, incorrect, tmp_path / "pie.png")
    assert not (tmp_path / "pie.png").exists()


def test_chart_file_appears_only_when_complete(tmp_path, monkeypatch):
    path = tmp_path / "pie.png"
    path.write_bytes(b"old")

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_SIGNATURE)
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError):
        charts.save_pie(3, 1, path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["pie.png"]


def test_save_ap_bars_is_readable_for_40_tags(tmp_path):
    tags = [f"tag_name_{i}" for i in range(40)]
    aps = list(np.linspace(0.1, 0.95, 40))
    aps[3] = float("nan")  # a tag with no positives in the test set
    path = tmp_path / "ap.png"
    charts.save_ap_bars(tags, aps, path)
    assert_png(path, (500, 40 * 20))


def test_save_ap_bars_needs_one_ap_per_tag(tmp_path):
    with pytest.raises(ValueError):
        charts.save_ap_bars(["a", "b"], [0.5], tmp_path / "ap.png")


def test_save_pr_curves(tmp_path):
    recall = np.linspace(1, 0, 50)
    curves = {f"tag_{i}": (1 - recall ** (i + 1) / 2, recall) for i in range(15)}
    curves["micro"] = (1 - recall / 2, recall)
    path = tmp_path / "pr.png"
    charts.save_pr_curves(curves, path)
    assert_png(path, (500, 400))


def test_save_pr_curves_rejects_mismatched_arrays(tmp_path):
    with pytest.raises(ValueError, match="broken"):
        charts.save_pr_curves({"broken": (np.ones(3), np.ones(4))}, tmp_path / "pr.png")


def test_charts_leave_pyplot_alone(tmp_path):
    code = ("import sys; from tagger.infer import charts; "
            f"charts.save_pie(1, 1, {str(tmp_path / 'p.png')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_prediction_grid_shape_and_upscaling():
    images = np.random.default_rng(0).random((5, 64, 64, 3)).astype(np.float32)
    predicted = [[("a", 0.9), ("b", 0.4)]] * 5
    grid = render.prediction_grid(images, predicted, [["a", "c"]] * 5, columns=4)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[1] >= 4 * 192 and grid.shape[0] >= 2 * 192
    as_uint8 = render.prediction_grid((images * 255).round().astype(np.uint8), predicted,
                                      [["a", "c"]] * 5, columns=4)
    assert np.abs(grid.astype(int) - as_uint8).max() <= 1


def test_prediction_grid_enlarges_small_thumbnails():
    blue = np.zeros((1, 64, 64, 3), np.uint8)
    blue[..., 2] = 255
    grid = render.prediction_grid(blue, [[("a", 0.9)]], [["a"]])
    assert count_colour(grid, (0, 0, 255)) >= 0.9 * 192 * 192


def count_colour(grid, colour):
    return int((np.abs(grid.astype(int) - colour).sum(axis=-1) < 30).sum())


def test_prediction_grid_colours_right_wrong_and_missed():
    images = np.full((1, 64, 64, 3), 0.5)
    right = render.prediction_grid(images, [[("cat_ears", 0.9)]], [["cat_ears"]])
    wrong = render.prediction_grid(images, [[("dog_ears", 0.9)]], [["cat_ears"]])
    assert count_colour(right, render.CORRECT_RGB) > count_colour(wrong, render.CORRECT_RGB)
    assert count_colour(wrong, render.WRONG_RGB) > count_colour(right, render.WRONG_RGB)
    assert count_colour(wrong, render.MISSED_RGB) > count_colour(right, render.MISSED_RGB)


def test_prediction_grid_needs_matching_lengths():
    with pytest.raises(ValueError):
        render.prediction_grid(np.zeros((2, 8, 8, 3)), [[]], [[], []])
