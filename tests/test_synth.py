"""Tests for tagger.demo.synth: determinism, the Safebooru CSV layout, and labels checked from pixels."""
import csv
import math
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tagger.demo import synth

NEAR = 36  # RGB distance within which a pixel counts as part of a colour family
HAIR = synth.HAIR_RGB
EYES = synth.EYE_RGB


def read_rows(csv_path):
    with open(csv_path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def near(img, rgb):
    """Mask of pixels within NEAR of colour `rgb`."""
    a = np.asarray(img, dtype=float)
    return np.linalg.norm(a - np.array(rgb, dtype=float), axis=-1) < NEAR


def solid(mask):
    """Pixels whose whole 3x3 neighbourhood is in `mask`: flat areas, not antialiased edges."""
    out = mask.copy()
    h, w = mask.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out[1:-1, 1:-1] &= mask[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
    out[0], out[-1], out[:, 0], out[:, -1] = False, False, False, False
    return out


@pytest.fixture(scope="module")
def posts():
    return [synth.draw_post(np.random.default_rng([7, i]), 128) for i in range(1, 401)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return synth.write_dataset(out, 12, seed=3)


def test_palette_families_are_far_apart():
    colours = list(HAIR.values()) + list(EYES.values())
    for i, a in enumerate(colours):
        for b in colours[i + 1:]:
            assert math.dist(a, b) > 1.5 * NEAR, (a, b)


def test_csv_layout(dataset):
    rows = read_rows(dataset)
    assert rows[0] == ["id", "created_at", "rating", "score", "sample_url", "sample_width",
                       "sample_height", "preview_url", "tags"]
    body = rows[1:]
    assert [int(r[0]) for r in body] == list(range(1, 13))
    created = [int(r[1]) for r in body]
    assert all(1_000_000_000 < t < 2_000_000_000 for t in created)
    for (post_id, _, rating, score, sample_url, width, height, preview_url, tags) in body:
        assert rating == "s" and int(score) >= 0
        assert preview_url == f"http://127.0.0.1:8000/thumbnails/{post_id}.jpg"
        assert sample_url == preview_url
        assert (width, height) == ("128", "128")
        names = tags.split(" ")
        assert names == sorted(names) and set(names) <= set(synth.DEMO_TAGS)
        with Image.open(dataset.parent / "thumbnails" / f"{post_id}.jpg") as img:
            assert img.format == "JPEG" and img.size == (128, 128) and img.mode == "RGB"
    assert not list(dataset.parent.rglob(".*"))  # no temporary files left behind
    images = {(dataset.parent / "thumbnails" / f"{i}.jpg").read_bytes() for i in range(1, 13)}
    assert len(images) == 12  # every post is drawn from its own random stream


def test_same_seed_gives_identical_bytes(tmp_path, dataset):
    again = synth.write_dataset(tmp_path, 12, seed=3)
    assert again.read_bytes() == dataset.read_bytes()
    for i in range(1, 13):
        name = f"thumbnails/{i}.jpg"
        assert (tmp_path / name).read_bytes() == (dataset.parent / name).read_bytes()


def test_different_seed_differs(tmp_path, dataset):
    other = synth.write_dataset(tmp_path, 12, seed=4)
    assert read_rows(other)[1:] != read_rows(dataset)[1:]
    assert (tmp_path / "thumbnails/1.jpg").read_bytes() != (dataset.parent / "thumbnails/1.jpg").read_bytes()


def test_post_k_does_not_depend_on_n_or_workers(tmp_path):
    small = synth.write_dataset(tmp_path / "small", 5, seed=9, image_format="png")
    large = synth.write_dataset(tmp_path / "large", 10, seed=9, image_format="png", workers=2)
    assert read_rows(large)[:6] == read_rows(small)
    for i in range(1, 6):
        name = f"thumbnails/{i}.png"
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "large" / name).read_bytes()


def test_draw_post_returns_rgb_image_and_sorted_known_tags(posts):
    for img, tags in posts[:20]:
        assert img.mode == "RGB" and img.size == (128, 128)
        assert tags == sorted(set(tags)) and set(tags) <= set(synth.DEMO_TAGS)
    img, _ = synth.draw_post(np.random.default_rng(0), size=80)
    assert img.size == (80, 80)


def test_structural_tag_rules(posts):
    for _, tags in posts:
        tags = set(tags)
        assert ("1girl" in tags) != ("multiple_girls" in tags), tags
        if "1girl" in tags:
            assert len(tags & {"long_hair", "short_hair"}) == 1, tags
        if tags & {"twintails", "ponytail"}:
            assert "long_hair" in tags, tags
        if "closed_eyes" in tags and "1girl" in tags:
            assert not tags & set(EYES), tags
        if "monochrome" in tags:
            assert not tags & (set(HAIR) | set(EYES)), tags


def test_tag_frequencies_are_safebooru_like(posts):
    counts = Counter(t for _, tags in posts for t in tags)
    assert set(counts) == set(synth.DEMO_TAGS)  # every tag occurs
    assert 0.08 < counts["multiple_girls"] / len(posts) < 0.25
    assert 0.01 < counts["monochrome"] / len(posts) < 0.12
    assert counts["long_hair"] > counts["short_hair"]


def test_monochrome_images_are_grey(posts):
    mono = [img for img, tags in posts if "monochrome" in tags]
    assert mono
    for img in mono:
        a = np.asarray(img)
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    colour = [img for img, tags in posts if "monochrome" not in tags]
    assert all((np.asarray(img).std(axis=-1) > 10).any() for img in colour[:50])


def test_hair_colour_tags_match_pixels(posts):
    checked = 0
    for img, tags in posts:
        if "monochrome" in tags:
            continue
        for name, rgb in HAIR.items():
            flat = int(solid(near(img, rgb)).sum())
            if name not in tags:
                assert flat == 0, (name, tags)  # no area of an untagged hair colour
            elif "1girl" in tags:
                assert flat >= 100, (name, flat, tags)
                checked += 1
            else:
                assert near(img, rgb).sum() >= 30, (name, tags)
    assert checked > 200


def test_eye_colour_tags_match_pixels(posts):
    for img, tags in posts:
        if "monochrome" in tags:
            continue
        for name, rgb in EYES.items():
            count = int(near(img, rgb).sum())
            if name not in tags:
                assert count == 0, (name, count, tags)
            else:
                assert count >= (10 if "1girl" in tags else 1), (name, count, tags)


def test_closed_eyes_show_no_iris_colour(posts):
    closed = [img for img, tags in posts if "closed_eyes" in tags and "1girl" in tags
              and "monochrome" not in tags]
    assert closed
    for img in closed:
        assert all(near(img, rgb).sum() == 0 for rgb in EYES.values())


def test_simple_background_is_smooth_and_busy_is_not(posts):
    def smooth_top_corners(img):
        a = np.asarray(img, dtype=float)
        def roughness(c):
            return np.abs(np.diff(c, axis=0)).mean() + np.abs(np.diff(c, axis=1)).mean()
        return roughness(a[:8, :8]) < 1 and roughness(a[:8, -8:]) < 1

    simple = [smooth_top_corners(img) for img, tags in posts if "simple_background" in tags]
    busy = [smooth_top_corners(img) for img, tags in posts if "simple_background" not in tags]
    assert np.mean(simple) > 0.95
    assert np.mean(busy) < 0.3


def test_cli_writes_dataset(tmp_path, capsys):
    synth.main([str(tmp_path), "--n", "3", "--seed", "1", "--size", "64"])
    rows = read_rows(tmp_path / "all_data.csv")
    assert len(rows) == 4 and rows[1][5:7] == ["64", "64"]
    assert sorted(p.name for p in (tmp_path / "thumbnails").iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]
    assert "3 posts" in capsys.readouterr().out


def test_rejects_unknown_image_format(tmp_path):
    with pytest.raises(ValueError, match="image_format"):
        synth.write_dataset(tmp_path, 1, image_format="gif")
