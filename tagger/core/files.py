"""Filesystem helpers: atomic writes, hard links, paths kept inside a folder."""
import contextlib
import csv
import os
import re
import shutil
import threading
from pathlib import Path


TEMPORARY_NAME = re.compile(r"^\..+\.\d+-\d+\.(part|keras|png)$")  # atomic_path's names


@contextlib.contextmanager
def atomic_path(path, suffix=".part"):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name starts with a dot and holds the process and thread, so concurrent
    writers never share one and a killed run's leftovers are easy to recognise.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename == str(tmp):
            exc.filename = str(path)  # a full disk is reported for the file a person knows
        raise


def clear_temporaries(folder, depth=1):
    """Remove atomic_path's temporary files from `folder` and its sub-folders down to `depth`
    levels: what a killed run was writing. Call it only while no one else writes there (with
    the folder's lock held). Return how many were removed."""
    removed, temporaries, folders = 0, [], []
    try:  # only the names it acts on are kept, not every entry of a folder of 3M images
        with os.scandir(folder) as entries:
            for entry in entries:
                if TEMPORARY_NAME.match(entry.name) and not entry.is_dir(follow_symlinks=False):
                    temporaries.append(entry.path)
                elif depth > 1 and entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for path in temporaries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed += 1
    for path in folders:
        removed += clear_temporaries(path, depth - 1)
    return removed


def atomic_write_bytes(path, data):
    """Write `data` to `path` so the file appears only when complete."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


@contextlib.contextmanager
def atomic_csv_writer(path, header):
    """Yield a csv.writer whose file replaces `path` only when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            yield writer


def read_csv_dicts(path):
    """Read a CSV with a header into a list of dicts (empty if the file is absent)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def link_or_copy(src, dst):
    """Hard-link `src` to `dst` (replacing it), copying where the file system has no links."""
    try:
        os.link(src, dst)  # a new link appears whole: no temporary name needed
        return
    except OSError:  # dst exists (replaced below), or no hard links here or across devices
        pass
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def inside(root, path):
    """True if `path` resolves to a location inside folder `root`."""
    root = Path(root).resolve()
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return True


def move_aside(path, dest_dir):
    """Move `path` into `dest_dir` under its own name, numbered if taken; never overwrite."""
    path = Path(path)
    rel = Path(path.name)
    target = Path(dest_dir) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while target.exists():
        target = target.with_name(f"{rel.stem}.{n}{rel.suffix}")
        n += 1
    shutil.move(str(path), str(target))
    return target
