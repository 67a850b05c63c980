"""Training images packed into TFRecord shards, for data that does not fit in memory.

Reading a hundred thousand small files each epoch costs an open and a read per file, which
on a network or cloud file system means a round trip per image; a few large shards are read
sequentially, several at once (interleave), and sharded between workers by file. The shards
hold each image's encoded bytes as deal.py wrote them (no re-encoding) and its target, are
written once into RUN/records/, reused by a resumed run while the training images and targets
are the same (records.json holds their fingerprint), and removed when training is done.
Everything goes through tf.io.gfile, so the folder may be on a shared or cloud file system
(gs://, s3:// with TensorFlow I/O, HDFS).
"""
import dataclasses
import hashlib
import json

import numpy as np

MANIFEST = "records.json"


def fingerprint(paths, targets):
    """A digest of the file paths, their sizes and the targets: what the shards must hold."""
    import tensorflow as tf

    digest = hashlib.sha256(np.ascontiguousarray(targets, np.float32).tobytes())
    for path in paths:
        digest.update(f"{path}\0{tf.io.gfile.stat(path).length}\n".encode())
    return digest.hexdigest()


def _example(data, target):
    import tensorflow as tf

    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
               "target": tf.train.Feature(float_list=tf.train.FloatList(value=target))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def existing_records(folder, paths, targets):
    """The shard files in `folder` if they hold exactly these images and targets, else None."""
    return _recorded_shards(folder, fingerprint(paths, targets))


def _recorded_shards(folder, digest):
    """The shard files in `folder` if its manifest has this fingerprint, else None."""
    import tensorflow as tf

    manifest = f"{folder}/{MANIFEST}"
    if not tf.io.gfile.exists(manifest):
        return None
    with tf.io.gfile.GFile(manifest) as f:
        recorded = json.load(f)
    if recorded.get("fingerprint") != digest:
        return None
    return [f"{folder}/{name}" for name in recorded["shards"]]


def write_records(folder, paths, targets, n_shards=16, progress=None):
    """Write (or reuse) shards of the images and targets into `folder`; return their paths.

    Example i goes to shard i % n_shards, so every shard holds a slice of every part of the
    list; each shard appears under its final name only when complete, the manifest last.
    """
    import tensorflow as tf

    digest = fingerprint(paths, targets)  # one stat per image: worked out once
    found = _recorded_shards(folder, digest)
    if found is not None:
        return found
    tf.io.gfile.makedirs(folder)
    n_shards = max(1, min(n_shards, len(paths)))
    names = [f"train-{k:05d}-of-{n_shards:05d}.tfrecord" for k in range(n_shards)]
    for k, name in enumerate(names):
        tmp = f"{folder}/.{name}.part"
        with tf.io.TFRecordWriter(tmp) as writer:
            for i in range(k, len(paths), n_shards):
                with tf.io.gfile.GFile(paths[i], "rb") as f:
                    writer.write(_example(f.read(), targets[i]))
                if progress is not None:
                    progress.update(1)
        tf.io.gfile.rename(tmp, f"{folder}/{name}", overwrite=True)
    manifest = {"fingerprint": digest, "shards": names,
                "examples": len(paths), "n_tags": int(np.shape(targets)[1])}
    with tf.io.gfile.GFile(f"{folder}/.{MANIFEST}.part", "w") as f:
        json.dump(manifest, f, indent=1)
    tf.io.gfile.rename(f"{folder}/.{MANIFEST}.part", f"{folder}/{MANIFEST}", overwrite=True)
    return [f"{folder}/{name}" for name in names]


def record_dataset(files, n_tags, n_examples, spec, cycle_length=8):
    """A pipeline like dataset.make_dataset's over TFRecord shards (`spec`: an InputSpec, whose
    shard splits the files): each worker takes its share of the files, reads `cycle_length`
    of them at once, decodes, shuffles, augments, batches."""
    import tensorflow as tf

    from .dataset import batches
    from .decode import decode

    count = spec.shard[0]
    if count > len(files):
        raise ValueError(f"{len(files)} record shards cannot be split between {count} "
                         f"workers; write at least as many shards as workers")
    features = {"image": tf.io.FixedLenFeature([], tf.string),
                "target": tf.io.FixedLenFeature([n_tags], tf.float32)}

    def parse(record):
        example = tf.io.parse_single_example(record, features)
        return decode(example["image"], spec.image_size, spec.fit), example["target"]

    ds = tf.data.Dataset.from_tensor_slices(list(files))
    if count > 1:
        ds = ds.shard(*spec.shard)
    if spec.training:
        ds = ds.shuffle(len(files), seed=spec.seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not spec.training)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not spec.training)
    return batches(ds, max(1, n_examples // count), dataclasses.replace(spec, cache=False))
