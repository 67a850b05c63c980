"""What training and testing read: labelled examples, the id split, and tf.data pipelines."""
import csv
from dataclasses import dataclass

import numpy as np

from ..core.files import atomic_csv_writer
from ..core.folders import DEFAULT_FIT, DataFolder
from ..core.tags import folder_map
from ..data.grouping import image_paths, read_labels
from .decode import decode

SPLITS = ("train", "val", "test")


@dataclass
class Examples:
    """Images with their multi-hot labels over a dictionary, and their tag-folder entries."""
    ids: np.ndarray          # (n,) int64
    paths: list              # one readable file per image
    labels: np.ndarray       # (n, n_tags) float32, every dictionary tag of the image
    folder_pairs: list       # (row index, tag index) per tag-folder entry: the softmax samples

    def subset(self, mask):
        """The examples whose rows are selected by the boolean `mask`."""
        rows = np.flatnonzero(mask)
        index = {old: new for new, old in enumerate(rows)}
        return Examples(self.ids[rows], [self.paths[i] for i in rows], self.labels[rows],
                        [(index[r], t) for r, t in self.folder_pairs if r in index])


def load_examples(data_dir, tags):
    """Collect the images left in the tag folders with their full tag sets from labels.csv."""
    column = {tag: i for i, tag in enumerate(tags)}
    folders = folder_map(tags)
    data = DataFolder(data_dir)
    labels_csv = read_labels(data.labels)
    if not labels_csv:
        raise FileNotFoundError(f"{data.labels} is missing or empty; run deal.py first")
    first_path, entries = {}, []
    for path in image_paths(data.tag_folders):
        tag = folders.get(path.parent.name)
        if tag is None or not path.stem.isdigit() or int(path.stem) not in labels_csv:
            continue
        post_id = int(path.stem)
        first_path.setdefault(post_id, str(path))
        entries.append((post_id, column[tag]))
    ids = np.array(sorted(first_path), dtype=np.int64)
    row = {post_id: i for i, post_id in enumerate(ids)}
    labels = np.zeros((len(ids), len(tags)), np.float32)
    for post_id, i in row.items():
        for tag in labels_csv[post_id][1]:
            if tag in column:
                labels[i, column[tag]] = 1.0
    pairs = sorted((row[p], t) for p, t in entries)
    return Examples(ids, [first_path[i] for i in ids], labels, pairs)


def split_ids(ids, val_fraction=0.2, test_fraction=0.0, seed=0):
    """Assign each id to train, val or test, deterministically from the seed."""
    order = np.random.default_rng(seed).permutation(np.sort(np.asarray(ids)))
    n_val, n_test = round(len(order) * val_fraction), round(len(order) * test_fraction)
    split = {int(i): "test" for i in order[:n_test]}
    split.update({int(i): "val" for i in order[n_test:n_test + n_val]})
    split.update({int(i): "train" for i in order[n_test + n_val:]})
    return split


def write_split(path, split):
    """Write the {id: split} table, atomically."""
    with atomic_csv_writer(path, ("id", "split")) as writer:
        writer.writerows(sorted(split.items()))


def read_split(path):
    """Read split.csv into {id: split}."""
    with open(path, newline="", encoding="utf-8") as f:
        return {int(r["id"]): r["split"] for r in csv.DictReader(f)}


def sample_table(examples, loss):
    """Paths and targets per training sample: one per image (multi-label) or per folder entry
    (softmax)."""
    if loss != "softmax":
        return examples.paths, examples.labels
    n_tags = examples.labels.shape[1]
    targets = np.zeros((len(examples.folder_pairs), n_tags), np.float32)
    for k, (_, t) in enumerate(examples.folder_pairs):
        targets[k, t] = 1.0
    return [examples.paths[r] for r, _ in examples.folder_pairs], targets


@dataclass(frozen=True)
class InputSpec:
    """How a tf.data pipeline reads images: their size and fit, the batches, whether it trains
    (shuffle and augment: `flip`, random shifts up to `shift` of the side, from `seed`),
    whether decoded images are cached in memory, this reader's `shard` = (count, index) of the
    files, and whether it repeats endlessly in full batches (the caller counts the steps)."""
    image_size: int
    batch_size: int
    fit: str = DEFAULT_FIT
    training: bool = False
    flip: bool = True
    shift: float = 0.0
    seed: int = 0
    cache: bool = True
    shard: tuple = (1, 0)
    repeat: bool = False


def make_dataset(paths, targets, spec):
    """A tf.data pipeline: decode, (cache), shuffle and augment when training, batch, prefetch.

    Images come out as float32 0..255, the model's input, the pixels tagging prepares from the
    same file; `shard` keeps every count-th file from the index-th, before anything is read.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((list(paths), targets))
    if spec.shard[0] > 1:
        ds = ds.shard(*spec.shard)
    ds = ds.map(lambda path, target: (decode(tf.io.read_file(path), spec.image_size, spec.fit),
                                      target),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=not spec.training)
    return batches(ds, len(paths), spec)


def batches(ds, n, spec):
    """The rest of a pipeline of `n` decoded (image, target) pairs: (cache), shuffle,
    (repeat), augment when training, batch, prefetch."""
    import tensorflow as tf

    if spec.cache:
        ds = ds.cache()
    if spec.training:
        ds = ds.shuffle(min(n, 20000), seed=spec.seed, reshuffle_each_iteration=True)
        if spec.repeat:
            ds = ds.repeat()
        ds = ds.map(augmenter(spec), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.batch(spec.batch_size, drop_remainder=spec.repeat).prefetch(tf.data.AUTOTUNE)


def augmenter(spec):
    """The training augmentation of decoded uint8 images: random flips and reflect-padded
    random crops (`spec.shift`); colours are never changed. Returns float32 0..255."""
    import tensorflow as tf

    size = spec.image_size
    pad = int(round(size * spec.shift))

    def augment(image, target):
        image = tf.cast(image, tf.float32)
        if spec.flip:
            image = tf.image.random_flip_left_right(image)
        if pad:
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            image = tf.image.random_crop(image, (size, size, 3))
        return image, target

    return augment


def fits_in_memory(n_images, image_size, budget_bytes):
    """Whether decoded uint8 images would fit in the cache budget."""
    return n_images * image_size * image_size * 3 <= budget_bytes


def cache_line(n_images, image_size, cache_mb, tfrecords):
    """The memory estimate train.py prints before it caches: what the decoded images take,
    and where they will be read from."""
    need = n_images * image_size * image_size * 3 / 2**20
    size = f"{need / 1024:,.1f} GiB" if need >= 1024 else f"{need:,.0f} MiB"
    head = f"{n_images:,} images at {image_size}x{image_size} take about {size} decoded"
    if fits_in_memory(n_images, image_size, cache_mb * 2**20):
        return f"{head}: cached in memory (--cache-mb {cache_mb:,})"
    where = "TFRecord shards" if tfrecords else "their files, decoded again each epoch"
    return f"{head}, more than --cache-mb {cache_mb:,}: read from {where}"
