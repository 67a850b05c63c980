"""The scale bench's inputs: many distinct anime thumbnails, drawn fast, and a local server CSV.

Drawing each of 200,000 thumbnails from scratch takes ~6 ms at 150 px (20 minutes of CPU), so
a pool of drawn pictures is reused: thumbnail <id> is pool picture id % pool with the id
written into its top row of pixels, so no two are the same bytes or the same pixels and
check.py's duplicate removal keeps them all.
"""
import io
import multiprocessing
from pathlib import Path

import numpy as np
from PIL import Image

from tagger.demo.synth import draw_post

_POOL = []


def _mark(pixels, post_id):
    """The pool picture with the id's 24 bits as black or white cells along its top edge."""
    out = pixels.copy()
    cell = max(1, out.shape[1] // 24)
    bits = (post_id >> np.arange(24)) & 1
    out[:2, :24 * cell] = np.repeat(bits * 255, cell)[None, :, None].astype(np.uint8)
    return out


def _write(job):
    folder, ids = job
    for post_id in ids:
        buf = io.BytesIO()
        Image.fromarray(_mark(_POOL[post_id % len(_POOL)], post_id)).save(buf, "JPEG", quality=90)
        (Path(folder) / f"{post_id}.jpg").write_bytes(buf.getvalue())
    return len(ids)


def distinct_thumbnails(folder, ids, size=150, pool=1000, seed=0, workers=2):
    """Write a distinct thumbnail folder/<id>.jpg for each id (skipped if the first and the
    last are there already); return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [int(i) for i in ids]
    if (folder / f"{ids[-1]}.jpg").exists() and (folder / f"{ids[0]}.jpg").exists():
        return folder
    _POOL[:] = [np.asarray(draw_post(np.random.default_rng([seed, k]), size)[0].convert("RGB"))
                for k in range(pool)]
    jobs = [(str(folder), ids[a:a + 2000]) for a in range(0, len(ids), 2000)]
    with multiprocessing.get_context("fork").Pool(workers) as p:
        p.map(_write, jobs)
    return folder
