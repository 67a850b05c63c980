"""Validate grouped images: decode each picture fully and hash its bytes and pixels."""
import hashlib

from ..core.entry import process_pool
from ..core.images import validate


def inspect(args):
    """Fully decode one file; return (key, reason or None, byte hash, pixel hash)."""
    key, path, size = args
    with open(path, "rb") as f:
        byte_hash = hashlib.sha1(f.read()).hexdigest()
    reason, pixels = validate(path, size)
    pixel_hash = hashlib.sha1(pixels).hexdigest() if pixels is not None else None
    return key, reason, byte_hash, pixel_hash


def inspect_all(windows, size, workers, on_done):
    """Decode the pictures of `windows` (lists of (key, path)), on `workers` processes, a
    window at a time so that the work queued stays bounded; call on_done(key, reason,
    byte hash, pixel hash) as each is done."""
    pool = process_pool(workers) if workers > 1 else None
    try:
        for window in windows:
            work = [(key, path, size) for key, path in window]
            results = map(inspect, work) if pool is None else pool.imap(inspect, work,
                                                                        chunksize=64)
            for result in results:
                on_done(*result)
    except BaseException:  # Ctrl-C or an error: stop the workers now, not after their queue
        if pool is not None:
            pool.terminate()
        raise
    if pool is not None:
        pool.close()
        pool.join()
