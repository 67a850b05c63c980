"""tagger.infer.pictures, decoding and session.choose, and the reduced decode: finding pictures, naming outputs, decoding."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tagger.infer.captions import CaptionStyle, split_tags
from tagger.core.images import decode_rgb, prepare
from tagger.infer.decoding import DecodeStream, InlineExecutor, open_pool
from tagger.infer.pictures import find_pictures, mirror, plan_names
from tagger.infer.session import choose


def drawn_picture(size, seed=0):
    """A picture with smooth colour, edges and small detail, like an illustration."""
    rng = np.random.default_rng(seed)
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))
    arr = np.stack([200 * x + 30, 180 * y + 40, 120 * (1 - x) + 60], -1).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(w // 40, w // 8)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def encoded(img, fmt, **save):
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize("size,fit", [((2400, 1500), "pad"), ((1500, 2400), "pad"),
                                      ((2000, 1800), "stretch")])
def test_reduced_jpeg_decode_prepares_nearly_the_same_array(size, fit):
    data = encoded(drawn_picture(size), "JPEG", quality=92)
    small, full_size = decode_rgb(data, 64 * 3, fit)
    assert full_size == size and max(small.size) <= max(size) // 4  # really decoded smaller
    full = prepare(data, 64, fit).astype(int)
    reduced = prepare(data, 64, fit, reduced=True).astype(int)
    assert full.shape == reduced.shape == (64, 64, 3)
    assert np.abs(full - reduced).mean() < 2.0  # of 255
    assert np.abs(full - reduced).max() < 40
    # the padding is where the full decode puts it
    assert ((full == 255).all(-1) == (reduced == 255).all(-1)).mean() > 0.98


def test_reduced_decode_is_exact_when_nothing_needs_shrinking():
    data = encoded(drawn_picture((150, 120)), "JPEG")
    assert (prepare(data, 100, "pad") == prepare(data, 100, "pad", reduced=True)).all()
    png = encoded(drawn_picture((900, 500)), "PNG")  # no draft for PNG; reduce() only
    diff = np.abs(prepare(png, 64).astype(int) - prepare(png, 64, reduced=True).astype(int))
    assert diff.mean() < 1.0


def test_find_pictures_walks_folders_once_and_skips_the_output_folder(tmp_path):
    (tmp_path / "in" / "out").mkdir(parents=True)
    for name in ("b.jpg", "a.PNG", "out/a_tags.png", ".a.png.123.part.png", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"x")
    found = find_pictures([tmp_path / "in", tmp_path / "in" / "b.jpg"],
                          skip_inside=tmp_path / "in" / "out")
    assert [p.name for p in found] == ["a.PNG", "b.jpg"]
    with pytest.raises(FileNotFoundError):
        find_pictures([tmp_path / "nope"])


def test_plan_names_keeps_whole_stems_and_separates_clashes():
    paths = [Path(p) for p in ("f/x.png", "f/x.jpg", "f/x.png.png", "f/frame.0001.png",
                               "f/frame.0002.png", "g/x.png", "f/Y.png", "f/y.jpg")]
    names, renamed = plan_names(paths, lambda p: p.parent)
    got = {str(p): str(names[p]) for p in paths}
    assert got["f/frame.0001.png"] == "f/frame.0001" and got["f/frame.0002.png"] == "f/frame.0002"
    assert got["g/x.png"] == "g/x"  # another folder: no clash
    assert got["f/x.jpg"] == "f/x.jpg" and got["f/x.png.png"] == "f/x.png.png"
    assert got["f/Y.png"] == "f/Y.png" and got["f/y.jpg"] == "f/y.jpg"  # case-insensitive disks
    assert len({n.casefold() for n in got.values()}) == len(paths)
    assert set(renamed) == {Path(p) for p in ("f/x.png", "f/x.jpg", "f/x.png.png", "f/Y.png",
                                              "f/y.jpg")}


def test_mirror_keeps_the_layout_under_the_common_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deep").mkdir(parents=True)
    to = mirror([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert to(tmp_path / "b" / "deep" / "x.jpg") == tmp_path / "out" / "b" / "deep"
    only = mirror([tmp_path / "b"], tmp_path / "out")
    assert only(tmp_path / "b" / "deep" / "x.jpg") == tmp_path / "out" / "deep"


def test_decode_stream_keeps_order_and_reports_bad_files(tmp_path):
    good = tmp_path / "good.png"
    drawn_picture((80, 60)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff broken")
    stream = DecodeStream(InlineExecutor(), [good, bad, good], 32, "pad", window=2)
    items = list(stream)
    assert [i.index for i in items] == [0, 1, 2]
    assert items[0].array.shape == (32, 32, 3) and items[1].array is None
    assert items[0].error is None and items[1].error  # the reason, for the summary


class CountingExecutor(InlineExecutor):
    """Runs each call at once, noting how many pictures each one carried."""

    def __init__(self):
        self.calls = []

    def submit(self, fn, jobs, *args):
        self.calls.append(len(jobs))
        return super().submit(fn, jobs, *args)


def test_decode_stream_sends_chunks_and_keeps_its_window(tmp_path):
    good = tmp_path / "good.png"
    drawn_picture((80, 60)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff broken")
    paths = [good, bad, *[good] * 9]
    pool = CountingExecutor()
    stream = DecodeStream(pool, paths, 32, "pad", window=6, chunk=4)
    assert pool.calls == [4, 4]  # the first window, at once: up to 6 pictures, 4 a call
    items = list(stream)
    assert [i.index for i in items] == list(range(11))
    assert [i.error is None for i in items] == [True, False, *[True] * 9]
    assert pool.calls == [4, 4, 3]
    with open_pool(2) as workers:  # real processes, a chunk each call
        items = list(DecodeStream(workers, paths, 32, "pad", window=6, chunk=4))
    assert [i.index for i in items] == list(range(11)) and items[1].error
    assert all(i.array.shape == (32, 32, 3) for i in items if i.error is None)


def test_choose_by_thresholds_or_threshold_then_at_most_max_tags():
    scores = np.array([0.9, 0.2, 0.6, 0.05])
    tags = ["a", "b", "c", "d"]
    assert [t for t, _ in choose(scores, tags, [0.5, 0.1, 0.7, 0.5])] == ["a", "b"]
    assert [t for t, _ in choose(scores, tags, None, threshold=0.5)] == ["a", "c"]
    assert [t for t, _ in choose(scores, tags, None, threshold=0, max_tags=3)] == ["a", "c", "b"]
    assert [t for t, _ in choose(scores, tags, None, threshold=0.5, max_tags=3)] == ["a", "c"]
    assert [t for t, _ in choose(scores, tags, [0.5, 0.1, 0.7, 0.5], max_tags=1)] == ["a"]


def test_caption_style_and_append():
    style = CaptionStyle(", ", True, frozenset({"solo"}), ("1girl",), 3)
    chosen = [("long_hair", .9), ("solo", .8), ("1girl", .7), ("^_^", .6), ("smile", .5)]
    assert style.tags(chosen) == ["1girl", "long hair", "^_^"]
    assert style.text(["a", "b"]) == "a, b\n"
    assert split_tags("a , b,,c", ", ") == ["a", "b", "c"]




def test_append_compares_tags_as_a_person_means_them_and_keeps_every_byte():
    from tagger.infer.captions import appended

    assert appended(b"long hair,  smile \n", ["long_hair", "smile", "1girl"], ", ") == \
        b"long hair,  smile, 1girl \n"
    assert appended(b"a\r\nb\r\n", ["b", "c", "c"], ", ") == b"a\r\nb, c\r\n"  # one per line
    assert appended(b"\xef\xbb\xbfa", ["a"], ", ") is None  # nothing new: not rewritten
    assert appended(b"", ["a"], ", ") == b"a\n"
    with pytest.raises(UnicodeDecodeError):
        appended("caf\xe9".encode("latin-1"), ["a"], ", ")
