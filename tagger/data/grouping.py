"""Resize downloaded thumbnails once and group them into one hard-linked folder per tag."""
import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.entry import process_pool
from ..core.files import atomic_path, link_or_copy
from ..core.images import fit_square, load_rgb
from ..core.tags import folder_map, folder_to_tag, load_dic

LABELS_HEADER = ("id", "path", "tags")
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Job:
    """One image to resize: where it is, where it goes, which tag folders get a link."""
    row: int
    id: int
    src: str
    dst: str
    links: tuple
    size: int
    fit: str
    tags: tuple = ()


def process(job):
    """Resize one image and link it into its tag folders; return (job, error or None)."""
    try:
        img = fit_square(load_rgb(job.src), job.size, job.fit)
    except Exception as exc:  # any undecodable input is recorded, never fatal
        return job, f"unreadable: {type(exc).__name__}: {exc}"
    # writing can fail only on our side (a full disk, say): that stops the run
    with atomic_path(job.dst) as tmp:
        img.save(tmp, "JPEG", quality=JPEG_QUALITY)
    for link in job.links:
        link_or_copy(job.dst, link)
    return job, None


class JobRunner:
    """Resizes lists of jobs on `workers` processes (1 = in this process), one pool for the
    whole run: use as `with JobRunner(n) as run: run(jobs, on_done)`."""

    def __init__(self, workers):
        self.workers, self.pool = workers, None

    def __enter__(self):
        if self.workers > 1:
            self.pool = process_pool(self.workers).__enter__()
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.__exit__(*exc)

    def __call__(self, jobs, on_done):
        """Process `jobs`, calling on_done(job, error or None) as each finishes."""
        results = (map(process, jobs) if self.pool is None
                   else self.pool.imap_unordered(process, jobs, chunksize=32))
        for job, error in results:
            on_done(job, error)


def iter_labels(path):
    """Yield (id, path, tags tuple) of each labels.csv row, streaming (nothing if absent)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield int(r["id"]), r["path"], tuple(r["tags"].split())


def read_labels(path):
    """Read labels.csv into {id: (path, tags tuple)} (empty if absent)."""
    return {post_id: (rel, tags) for post_id, rel, tags in iter_labels(path)}


def write_labels(path, labels):
    """Write {id: (path, tags)} as labels.csv, sorted by id, atomically."""
    write_label_rows(path, ((i, labels[i][0], " ".join(labels[i][1])) for i in sorted(labels)))


def write_label_rows(path, rows):
    """Write (id, path, tags string) rows, already sorted by id, as labels.csv, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(LABELS_HEADER)
            writer.writerows(rows)


def image_paths(root):
    """Yield every file path under the tag folders of `root` (skipping hidden names)."""
    root = Path(root)
    if not root.is_dir():
        return
    for folder in sorted(os.scandir(root), key=lambda e: e.name):
        if folder.is_dir() and not folder.name.startswith("."):
            for entry in os.scandir(folder.path):
                if entry.is_file() and not entry.name.startswith("."):
                    yield Path(entry.path)


def folder_tags(data, folders):
    """Map each tag-folder name under the tag folders of `data` (a DataFolder) to its tag.

    Names are decoded where they can be; a name shortened with a hash (a tag longer than a
    file name may be) is found among the tags of labels.csv and of the dictionaries deal.py
    may have used. Raises ValueError naming a folder no tag explains."""
    known = {}
    for dic in _dictionaries(data):
        try:
            known.update(folder_map(load_dic(dic)))
        except ValueError:  # an empty dictionary explains no folder
            pass
    for _, _, tags in iter_labels(data.labels):
        known.update(folder_map(tags))
    found = {}
    for name in folders:
        if name in known:
            found[name] = known[name]
        elif "%~" not in name:
            found[name] = folder_to_tag(name)
        else:
            raise ValueError(f"{data.tag_folders / name}: a shortened tag folder whose "
                             f"tag is in neither {data.labels.name} nor the dictionary; run "
                             f"deal.py again, or move the folder out of "
                             f"{data.tag_folders.name}/")
    return found


def _dictionaries(data):
    """The dictionary files deal.py may have read: the one it recorded and DATA_DIR/dic.txt."""
    paths = [data.dic]
    recorded = data.deal_setting("dic", None)
    if recorded:
        paths.append(Path(recorded))
    return [p for p in dict.fromkeys(paths) if p.is_file()]
