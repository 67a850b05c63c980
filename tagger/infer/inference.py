"""Tagging many pictures: finding them, naming their outputs, decoding them in worker
processes (only as large as needed), batching them through any tagger.

A tagger is any object with `tags`, `thresholds`, `image_size`, `fit` and
`predict(uint8 arrays (n, size, size, 3)) -> (n, n_tags)` scores (tagger.infer.keras_run.Run).
"""
import collections
import concurrent.futures
import json
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def is_picture(path):
    """An image file by its suffix; hidden files (temporary names while writing) are not."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def find_pictures(inputs, skip_inside=None):
    """Files given, plus pictures under folders given (recursively, sorted), each once.

    Nothing inside `skip_inside` (an output folder) is returned, so a tool whose output
    lies inside its input never takes its own earlier outputs for input. Raises
    FileNotFoundError for an input that does not exist.
    """
    skip = Path(skip_inside).resolve() if skip_inside else None
    found, seen = [], set()
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if is_picture(p) and p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
        for candidate in candidates:
            real = candidate.resolve()
            if real in seen or (skip and (real == skip or skip in real.parents)):
                continue
            seen.add(real)
            found.append(candidate)
    return found


def mirror(inputs, out):
    """A function path -> its output folder: `out` plus the path's folder relative to the
    deepest folder holding every input (one folder given: its own layout under `out`)."""
    roots = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in inputs]
    try:
        root = Path(os.path.commonpath(roots))
    except ValueError:  # different drives: no common folder
        return lambda path: Path(out)
    return lambda path: Path(out) / path.resolve().parent.relative_to(root)


LISTED = 20  # pictures named after their whole file name that a summary lists one by one


def renamed_lines(renamed, verb, name_of):
    """Summary lines for the pictures whose stems clash: each of the first LISTED with the
    name it was `verb` as (`name_of(path)`), then how many more."""
    lines = [f"{path}: shares its stem with another picture in its folder; {verb} as "
             f"{name_of(path)}" for path in renamed[:LISTED]]
    if len(renamed) > LISTED:
        lines.append(f"... and {len(renamed) - LISTED:,} more pictures whose stems clash")
    return lines


def plan_names(paths, folder_of):
    """{path: output name without suffix}, and the paths not named after their stem.

    A picture's outputs are named after its stem (`frame.0001.png` -> `frame.0001`), as
    captioning tools expect; pictures whose stems meet in one folder (`x.png`, `x.jpg`)
    are named after their whole file name instead (`x.png`, `x.jpg`), until no two meet
    (names equal but for case also meet: a case-insensitive disk would merge them).
    """
    names = {p: Path(folder_of(p)) / p.stem for p in paths}
    while True:
        groups = collections.defaultdict(list)
        for path, name in names.items():
            groups[str(name).casefold()].append(path)
        meeting = [sorted(g) for g in groups.values() if len(g) > 1]
        if not meeting:
            return names, [p for p in paths if names[p].name != p.stem]
        for group in meeting:
            stems = [p for p in group if names[p].name != p.name]
            for k, path in enumerate(group[1:] if not stems else stems, start=1):
                # whole names first; whole names that meet only in case get a number
                names[path] = names[path].with_name(path.name if stems else f"{path.name}.{k}")


def with_suffix(name, suffix):
    """`name` + `suffix` without cutting at a dot inside the name (frame.0001 + .txt)."""
    return name.with_name(name.name + suffix)


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

    Spawned, not forked: the parent loads TensorFlow, whose threads a fork would copy
    half-way; spawned workers import only NumPy and Pillow."""
    if workers <= 0:
        return InlineExecutor()
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent,
        initargs=(os.getpid(),))


def _exit_with_parent(parent):
    """In a worker: exit when the parent is gone (killed), which the pool cannot notice."""
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


def decode_job(index, path, size, fit, reduced, draw_file=None, max_side=None):
    """Worker: decode one picture once into the model's input (and a capped picture)."""
    from ..core.images import REDUCING_GAP, decode_rgb, model_input

    try:
        need = size * REDUCING_GAP if reduced else None
        img, full = decode_rgb(str(path), need, fit, max_side if draw_file else None)
        array = model_input(img, size, fit, full if reduced else None)
        if draw_file:
            np.save(draw_file, np.asarray(cap_side(img, max_side)))
        return Decoded(index, Path(path), array, None, draw_file)
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


class DecodeStream:
    """Decoded for every path, in order, with at most `window` pictures in flight, so
    memory stays bounded however many pictures there are. The first window is submitted
    at once: workers decode while the caller loads its model."""

    def __init__(self, pool, paths, size, fit, reduced=True, window=128, draw_dir=None,
                 max_side=None):
        self.paths = list(paths)
        self.pool, self.jobs, self.pending = pool, iter(enumerate(self.paths)), collections.deque()
        self.options = (size, fit, reduced)
        self.draw_dir, self.max_side = draw_dir, max_side
        while len(self.pending) < window and self._submit_next():
            pass

    def _submit_next(self):
        for i, path in self.jobs:
            draw_file = str(Path(self.draw_dir) / f"{i}.npy") if self.draw_dir else None
            self.pending.append(self.pool.submit(decode_job, i, path, *self.options,
                                                 draw_file, self.max_side))
            return True
        return False

    def __iter__(self):
        while self.pending:
            try:
                done = self.pending.popleft().result()
            except concurrent.futures.process.BrokenProcessPool as exc:
                raise WorkerDied("a decoding process died (out of memory on a huge picture?); "
                                 "run the same command to continue, with --workers 1 if it "
                                 "happens again") from exc
            self._submit_next()
            yield done


def predict_stream(tagger, decoded, batch_size):
    """Yield (Decoded, scores or None) in order, predicting `batch_size` pictures at once."""
    batch = []
    for item in decoded:
        if item.error is not None:
            yield from _flush(tagger, batch)
            batch = []
            yield item, None
            continue
        batch.append(item)
        if len(batch) == batch_size:
            yield from _flush(tagger, batch)
            batch = []
    yield from _flush(tagger, batch)


def _flush(tagger, batch):
    if not batch:
        return
    scores = tagger.predict(np.stack([b.array for b in batch]), len(batch))
    for item, row in zip(batch, scores):
        item.array = None  # done with it: the batch's memory goes as soon as it is tagged
        yield item, row


def choose(scores, tags, thresholds=None, threshold=None, top_k=None):
    """[(tag, score)] chosen for one picture, most likely first: over the per-tag
    `thresholds`, over one `threshold`, or the `top_k` most likely."""
    order = np.argsort(-scores, kind="stable")
    if top_k is not None:
        return [(tags[j], float(scores[j])) for j in order[:top_k]]
    limits = np.full(len(tags), threshold) if threshold is not None else np.asarray(thresholds)
    return [(tags[j], float(scores[j])) for j in order if scores[j] >= limits[j]]


def missing_thresholds(tagger, source, other_choices):
    """The error for tags to be chosen by tuned thresholds that the tagger lacks."""
    return (f"{source} has no thresholds.csv (train.py writes it when the run finishes), so "
            f"there are no tuned thresholds to choose tags by; pass {other_choices} instead")


def scores_json(tags, scores):
    """Every tag's score, as draw.py's --json writes them."""
    return json.dumps({t: round(float(s), 5) for t, s in zip(tags, scores)}, indent=1) + "\n"


def load_tagger(path):
    """The tagger of a run folder, an ONNX export or a WD14 folder: the one place tag.py and
    draw.py load one."""
    from .backends import open_tagger

    return open_tagger(path)


def peek_input(run_path):
    """(image size, fit) from RUN/args.json without loading the model, or None: decoding
    can start while TensorFlow loads."""
    try:
        settings = json.loads((Path(run_path) / "args.json").read_text())
        return int(settings["image_size"]), settings.get("fit", "pad")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def draw_job(picture_file, chosen, out_path, compress_level=1):
    """Worker: draw the chosen tags on a decoded picture and save it as PNG (atomically).

    PNG level 1: a drawn 2048 px picture saves several times faster than at Pillow's
    default 6, for files about a third larger."""
    from PIL import Image

    from ..core.files import atomic_path
    from ..core.render import draw_tags

    picture = Image.fromarray(np.load(picture_file))
    try:
        with atomic_path(out_path, suffix=".png") as tmp:
            draw_tags(picture, chosen).save(tmp, "PNG", compress_level=compress_level)
    finally:
        os.unlink(picture_file)
    return out_path
