"""What training and testing read: labelled examples, the id split, and tf.data pipelines."""
import csv
import os
from dataclasses import dataclass

import numpy as np

from ..core.files import atomic_csv_writer
from ..data.grouping import image_paths, read_labels
from ..core.tags import folder_map

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
    """Collect the images left under anime_images/ with their full tag sets from labels.csv."""
    column = {tag: i for i, tag in enumerate(tags)}
    folders = folder_map(tags)
    labels_csv = read_labels(os.path.join(data_dir, "labels.csv"))
    if not labels_csv:
        raise FileNotFoundError(f"{data_dir}/labels.csv is missing or empty; run deal.py first")
    first_path, entries = {}, []
    for path in image_paths(os.path.join(data_dir, "anime_images")):
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


def make_dataset(paths, targets, image_size, batch_size, training, flip=True, shift=0.0,
                 seed=0, cache=True, shard=(1, 0), repeat=False):
    """A tf.data pipeline: decode, (cache), shuffle and augment when training, batch, prefetch.

    Images come out as float32 0..255, the model's input; `shift` is the largest random
    translation as a fraction of the side (reflect-padded crop), colours are never changed.
    `shard` = (count, index) keeps every count-th file from the index-th, before anything is
    read; `repeat` makes an endless stream of full batches (the caller counts the steps).
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((list(paths), targets))
    if shard[0] > 1:
        ds = ds.shard(*shard)
    ds = ds.map(lambda path, target: (decode(tf.io.read_file(path), image_size), target),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    return batches(ds, len(paths), image_size, batch_size, training, flip, shift, seed, cache,
                   repeat)


def decode(data, image_size):
    """Encoded image bytes to a uint8 (image_size, image_size, 3) tensor, as training sees it."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    shape = tf.shape(image)

    def resize():
        resized = tf.image.resize(image, (image_size, image_size), antialias=True)
        return tf.cast(tf.round(resized), tf.uint8)

    # deal.py already made them this size: resizing would give the same pixels at 3x the cost
    # of the decode itself (measured in bench/scale_results.md)
    same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
    image = tf.cond(same, lambda: image, resize)
    return tf.ensure_shape(image, (image_size, image_size, 3))


def batches(ds, n, image_size, batch_size, training, flip=True, shift=0.0, seed=0, cache=True,
            repeat=False):
    """The rest of a pipeline of decoded (image, target) pairs: (cache), shuffle, (repeat),
    augment when training, batch, prefetch."""
    import tensorflow as tf

    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(n, 20000), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(_augmenter(image_size, flip, shift, seed), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)


def _augmenter(image_size, flip, shift, seed):
    import tensorflow as tf

    pad = int(round(image_size * shift))

    def augment(image, target):
        image = tf.cast(image, tf.float32)
        if flip:
            image = tf.image.random_flip_left_right(image)
        if pad:
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            image = tf.image.random_crop(image, (image_size, image_size, 3))
        return image, target

    return augment


def fits_in_memory(n_images, image_size, budget_bytes):
    """Whether decoded uint8 images would fit in the cache budget."""
    return n_images * image_size * image_size * 3 <= budget_bytes
