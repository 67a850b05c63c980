"""One decode: the same file gives the model the same pixels in training and in tagging.

Training's tf.data pipelines (make_dataset with and without its cache, the TFRecord shards)
must give exactly what tagging's Pillow decode (tagger.core.images.prepare, whole and
reduced) gives, on images deal.py really made and on files of every other kind."""
import io

import numpy as np
import pytest
from PIL import Image

import deal
from conftest import make_downloaded
from tagger.core.images import prepare
from tagger.demo.synth import DEMO_TAGS, draw_post
from tagger.train.dataset import InputSpec, load_examples, make_dataset
from tagger.train.records import record_dataset, write_records

SIZE = 64


def encode(img, fmt, **save):
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


@pytest.fixture(scope="module", params=["pad", "stretch"])
def dealt(request, tmp_path_factory):
    """(data folder, fit, dealt image paths): synthetic anime faces of several formats and
    shapes, downloaded as JPEG or PNG and resized by deal.py to 64 px."""
    fit = request.param
    data = tmp_path_factory.mktemp(f"dealt-{fit}") / "data"
    posts = []
    for i in range(1, 13):
        img, tags = draw_post(np.random.default_rng(i), 128)
        if i % 3 == 1:
            img = img.crop((0, 20, 128, 108))  # wide: padded or stretched
        data_bytes = encode(img, "PNG") if i % 2 else encode(img, "JPEG", quality=92)
        posts.append((i, " ".join(tags), data_bytes))
    make_downloaded(data, posts, DEMO_TAGS)
    deal.main(["--data-dir", str(data), "--image-size", str(SIZE), "--fit", fit,
               "--workers", "1"])
    paths = load_examples(data, list(DEMO_TAGS)).paths
    assert len(paths) == 12
    return data, fit, paths


def pipeline_images(ds):
    """Every image of a batched pipeline, in order, as float32 arrays."""
    return [x for batch, _ in ds for x in batch.numpy()]


def assert_same_pixels(got, paths, size, fit):
    """Each pipeline image equals prepare(path) exactly (float32 0..255 against uint8)."""
    assert len(got) == len(paths)
    for image, path in zip(got, paths):
        expected = prepare(path, size, fit)
        assert image.dtype == np.float32 and image.shape == expected.shape
        assert np.array_equal(image, expected), f"{path}: differs by up to " \
            f"{np.abs(image - expected).max()} of 255"


def test_dealt_images_decode_alike_in_training_and_tagging(dealt):
    _, fit, paths = dealt
    targets = np.zeros((len(paths), 1), np.float32)
    for path in paths:  # tagging's reduced decode: the picture is already at the model's size
        assert np.array_equal(prepare(path, SIZE, fit, reduced=True), prepare(path, SIZE, fit))
    uncached = make_dataset(paths, targets, InputSpec(SIZE, 5, fit, cache=False))
    assert_same_pixels(pipeline_images(uncached), paths, SIZE, fit)
    cached = make_dataset(paths, targets, InputSpec(SIZE, 5, fit, cache=True))
    for _ in range(2):  # the first pass fills the cache, the second reads it
        assert_same_pixels(pipeline_images(cached), paths, SIZE, fit)


def test_tfrecord_shards_decode_alike(dealt, tmp_path):
    _, fit, paths = dealt
    targets = np.zeros((len(paths), 1), np.float32)
    files = write_records(str(tmp_path / "records"), paths, targets, n_shards=1)  # in order
    ds = record_dataset(files, 1, len(paths), InputSpec(SIZE, 5, fit))
    assert_same_pixels(pipeline_images(ds), paths, SIZE, fit)


def test_training_at_another_size_sees_what_tagging_would(dealt):
    _, fit, paths = dealt
    targets = np.zeros((len(paths), 1), np.float32)
    ds = make_dataset(paths, targets, InputSpec(40, 6, fit, cache=False))
    assert_same_pixels(pipeline_images(ds), paths, 40, fit)


def _variants(img):
    """The same picture as files of every kind tagging accepts, at the model's size."""
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(img.size))  # see-through: white behind
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated 90 degrees, which Pillow undoes
    return {"png": encode(img, "PNG"), "rgba.png": encode(rgba, "PNG"),
            "grey.jpg": encode(img.convert("L"), "JPEG", quality=95),
            "rotated.jpg": encode(img, "JPEG", quality=95, exif=exif.tobytes()),
            "progressive.jpg": encode(img, "JPEG", quality=90, progressive=True),
            "444.jpg": encode(img, "JPEG", quality=90, subsampling=0),
            "gif": encode(img.convert("P"), "GIF"), "webp": encode(img, "WEBP"),
            "bmp": encode(img, "BMP")}


def test_every_kind_of_file_decodes_alike(dealt, tmp_path):
    _, fit, paths = dealt
    files = []
    for k, path in enumerate(paths[:3]):
        with Image.open(path) as img:
            for name, data in _variants(img.convert("RGB")).items():
                files.append(tmp_path / f"{k}.{name}")
                files[-1].write_bytes(data)
    files = [str(f) for f in files]
    targets = np.zeros((len(files), 1), np.float32)
    ds = make_dataset(files, targets, InputSpec(SIZE, 8, fit, cache=False))
    assert_same_pixels(pipeline_images(ds), files, SIZE, fit)
