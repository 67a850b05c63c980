"""bench/scale.py's inputs: distinct thumbnails, a CSV that points at the local server, and
a server that serves each id's own file. Nothing here times anything."""
import io
import subprocess
import sys
import urllib.error
import urllib.request
from argparse import Namespace

import numpy as np
import pytest
from PIL import Image

from bench import inputs, scale_report
from bench.scale_inputs import distinct_thumbnails
from conftest import ROOT
from tagger.data.safebooru import read_rows


def test_thumbnails_from_one_pool_picture_still_differ_in_pixels(tmp_path):
    ids = [1, 2, 4, 1001, 2001]  # with a pool of 1000, ids 1, 1001 and 2001 share a picture
    distinct_thumbnails(tmp_path, ids, size=64, pool=1000, workers=1)
    pixels = [np.asarray(Image.open(tmp_path / f"{i}.jpg")) for i in ids]
    assert all(p.shape == (64, 64, 3) for p in pixels)
    assert len({p.tobytes() for p in pixels}) == len(ids)
    assert np.abs(pixels[0][8:].astype(int) - pixels[3][8:]).mean() < 3  # the same drawing


def test_csv_points_at_the_local_server_and_the_server_serves_each_file(tmp_path):
    csv_path = tmp_path / "all_data.csv"
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", str(tmp_path), "--files",
                             "--latency", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        inputs.write_safebooru_csv(csv_path, 50, n_tags=2000, chunk=20, preview_base=base)
        rows = list(read_rows(csv_path))
        assert [r.id for r in rows] == inputs.post_ids(0, 50).tolist()
        first = rows[0]
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buf, "JPEG")
        (tmp_path / f"{first.id}.jpg").write_bytes(buf.getvalue())
        assert urllib.request.urlopen(first.url, timeout=10).read() == buf.getvalue()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(rows[1].url, timeout=10)  # no file for it
    finally:
        proc.terminate()
        proc.wait()


def test_report_shows_how_each_stage_grew(tmp_path):
    results = {"deal 1000": {"seconds": 2.0, "peak_mb": 50.0},
               "deal 4000": {"seconds": 8.4, "peak_mb": 52.0}}
    args = Namespace(sizes=[1000, 4000], csv_rows=10000, steps=3)
    scale_report.write(tmp_path / "r.md", results, args)
    text = (tmp_path / "r.md").read_text()
    assert "| deal | 2 s (2,000 us/image), 50 MB | 8 s (2,100 us/image), 52 MB |" in text
    assert "time x4.20, memory x1.04 (images x4)" in text
