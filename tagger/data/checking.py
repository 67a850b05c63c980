"""Validate grouped images, drop exact duplicates and cap each tag folder."""
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field

from ..core.entry import process_pool
from ..core.images import validate


@dataclass
class Picture:
    """One file on disk (an inode) and the tag-folder entries that point at it."""
    id: int
    entries: list = field(default_factory=list)
    reason: str = None
    byte_hash: str = None
    pixel_hash: str = None


def gather(paths):
    """Group tag-folder entries by the file they share; return {(dev, inode): Picture}."""
    pictures = {}
    for path in paths:
        if not path.stem.isdigit():
            continue
        st = path.stat()
        pictures.setdefault((st.st_dev, st.st_ino), Picture(int(path.stem))).entries.append(path)
    return pictures


def inspect(args):
    """Fully decode one file; return (reason or None, byte hash, pixel hash)."""
    path, size = args
    with open(path, "rb") as f:
        byte_hash = hashlib.sha1(f.read()).hexdigest()
    reason, pixels = validate(path, size)
    pixel_hash = hashlib.sha1(pixels).hexdigest() if pixels is not None else None
    return reason, byte_hash, pixel_hash


def inspect_all(pictures, size, workers, on_done):
    """Fill in each Picture's reason and hashes, decoding on `workers` processes; call
    on_done(picture) as each is done."""
    items = list(pictures.values())
    work = [(p.entries[0], size) for p in items]
    if workers <= 1:
        results = map(inspect, work)
    else:
        pool = process_pool(workers)
        results = pool.imap(inspect, work, chunksize=64)
    try:
        for picture, (reason, byte_hash, pixel_hash) in zip(items, results):
            picture.reason, picture.byte_hash, picture.pixel_hash = reason, byte_hash, pixel_hash
            on_done(picture)
    except BaseException:  # Ctrl-C or an error: stop the workers now, not after their queue
        if workers > 1:
            pool.terminate()
        raise
    if workers > 1:
        pool.close()
        pool.join()


def find_duplicates(pictures):
    """Map each duplicate Picture to the id it duplicates (same bytes or same pixels).

    Of each group of identical pictures with different ids the lowest id is kept.
    """
    keeper = {}
    duplicates = {}
    valid = sorted((p for p in pictures if p.reason is None), key=lambda p: p.id)
    for picture in valid:
        first = keeper.get(picture.byte_hash) or keeper.get(picture.pixel_hash)
        if first is not None and first != picture.id:
            duplicates[id(picture)] = first
        else:
            keeper.setdefault(picture.byte_hash, picture.id)
            keeper.setdefault(picture.pixel_hash, picture.id)
    return duplicates


def choose_capped(entries_by_folder, max_per_tag, seed):
    """Pick, per folder, the entries over the cap, deterministically from `seed`."""
    removed = {}
    for folder, entries in entries_by_folder.items():
        if max_per_tag and len(entries) > max_per_tag:
            ordered = sorted(entries, key=lambda p: int(p.stem))
            keep = set(random.Random(f"{seed}/{folder}").sample(range(len(ordered)), max_per_tag))
            removed[folder] = [p for i, p in enumerate(ordered) if i not in keep]
    return removed


def by_folder(paths):
    """Group paths by the name of their parent folder."""
    groups = defaultdict(list)
    for path in paths:
        groups[path.parent.name].append(path)
    return groups
