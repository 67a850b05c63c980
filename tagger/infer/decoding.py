"""Decoding pictures for a tagger in worker processes, only as large as the model needs,
with a bounded window in flight."""
import collections
import concurrent.futures
import itertools
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

class InlineExecutor:
    """The executor interface, running each job at once in this process (--workers 0)."""

    def submit(self, fn, *args):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # the caller sees it from result(), as from a process
            future.set_exception(exc)
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


def open_pool(workers):
    """Worker processes for decoding and drawing, or the caller's own process for 0.

    Never forked from the caller: the parent loads TensorFlow or onnxruntime, whose threads
    a fork would copy half-way. Where the system has one, a fork server (a fresh process
    that has imported only this module, NumPy and Pillow) forks each worker, so a worker
    is ready in milliseconds; elsewhere each worker is spawned and imports them itself,
    with the caller's script (0.25 s of CPU a worker, against 0.1 s for the one server)."""
    if workers <= 0:
        return InlineExecutor()
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=worker_context(),
                                                  initializer=_exit_with_parent)


def worker_context():
    """The multiprocessing context workers start from: the fork server, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # what the server imports once, and no more: not the caller's script (its default)
    context.set_forkserver_preload([__name__, "tagger.core.images", "tagger.infer.drawing"])
    return context


def _exit_with_parent():
    """In a worker: leave Ctrl-C to the parent (which prints the one `stopped` line), and
    exit when the process that started it is gone (the parent killed, or the fork server,
    which exits with the parent), which the pool cannot notice."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class WorkerDied(RuntimeError):
    """A worker process was killed (by the system, out of memory) in the middle of a job."""


@dataclass
class Decoded:
    """One picture read for the model: its input array, or why it could not be read;
    with drawing, where its picture (at most max_side) waits as a .npy file."""
    index: int
    path: Path
    array: object = None
    error: str = None
    picture_file: str = None


def decode_job(index, path, size, fit, reduced, draw_file=None, max_side=None,
               max_pixels=None):
    """Worker: decode one picture once into the model's input (and a capped picture).
    `max_pixels`: Pillow's decompression-bomb limit (None: Pillow's own, 0: no limit)."""
    from PIL import Image

    from ..core.images import REDUCING_GAP, decode_rgb, model_input

    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = max_pixels or None
    try:
        need = size * REDUCING_GAP if reduced else None
        img, full = decode_rgb(str(path), need, fit, max_side if draw_file else None)
        array = model_input(img, size, fit, full if reduced else None)
        if draw_file:
            np.save(draw_file, np.asarray(cap_side(img, max_side)))
        return Decoded(index, Path(path), array, None, draw_file)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Decoded(index, Path(path), None, f"larger than --max-pixels "
                       f"{Image.MAX_IMAGE_PIXELS:,} (Pillow's decompression-bomb limit); pass "
                       f"--max-pixels 0 to lift the limit, or a larger one")
    except Exception as exc:  # Pillow raises many types for broken files; the run goes on
        return Decoded(index, Path(path), None, f"{type(exc).__name__}: {exc}")


def cap_side(img, max_side):
    """The picture itself, or shrunk so its long side is `max_side`."""
    from PIL import Image

    if not max_side or max(img.size) <= max_side:
        return img
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def decode_jobs(jobs, size, fit, reduced, max_side=None, max_pixels=None):
    """Worker: decode_job for each (index, path, draw file) of a chunk, in order. A chunk of a
    few pictures a call cuts the pool's per-call cost (pickling, two pipe messages, waking
    threads: 0.2 ms of CPU a call here) to a fraction of a picture's decode."""
    return [decode_job(i, path, size, fit, reduced, draw_file, max_side, max_pixels)
            for i, path, draw_file in jobs]


class DecodeStream:
    """Decoded for every path, in order, with at most `window` pictures in flight, so
    memory stays bounded however many pictures there are, `chunk` pictures to a worker's
    call. The first window is submitted at once: workers decode while the caller loads its
    model."""

    def __init__(self, pool, paths, size, fit, reduced=True, window=128, draw_dir=None,
                 max_side=None, max_pixels=None, chunk=4):
        self.paths = list(paths)
        self.pool, self.jobs, self.pending = pool, enumerate(self.paths), collections.deque()
        self.options = (size, fit, reduced, max_side, max_pixels)
        self.draw_dir, self.window, self.chunk = draw_dir, window, max(1, chunk)
        self.in_flight = 0  # pictures submitted and not yet given to the caller
        self._fill()

    def _fill(self):
        while self.in_flight < self.window:
            jobs = [(i, path, str(Path(self.draw_dir) / f"{i}.npy") if self.draw_dir else None)
                    for i, path in itertools.islice(self.jobs, self.chunk)]
            if not jobs:
                return
            self.pending.append(self.pool.submit(decode_jobs, jobs, *self.options))
            self.in_flight += len(jobs)

    def cancel(self):
        """Give up the pictures not yet decoding (the caller decodes them again otherwise)."""
        for future in self.pending:
            future.cancel()
        self.pending.clear()
        self.in_flight = 0

    def __iter__(self):
        while self.pending:
            try:
                done = self.pending.popleft().result()
            except concurrent.futures.process.BrokenProcessPool as exc:
                raise WorkerDied("a decoding process died (out of memory on a huge picture?); "
                                 "run the same command to continue, with --workers 1 if it "
                                 "happens again") from exc
            self.in_flight -= len(done)
            self._fill()  # the workers go on while the caller takes these
            yield from done
