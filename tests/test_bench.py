"""bench/: its inputs are realistic, its server really waits, its originals are safe and agree.

Nothing here times anything: speed is measured by `python bench/run.py`, never asserted.
"""
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

import set_dic
from bench import inputs, machine, original
from bench.report import Row, markdown
from conftest import ROOT, image_bytes
from tagger.data.safebooru import BadRow, read_rows


def test_tag_frequencies_look_like_safebooru():
    p = inputs.tag_probabilities(300_000)
    assert 23 < p.sum() < 28  # tags per row
    assert p[0] == pytest.approx(0.6)
    assert (p * 2_000_000 > 120_000).sum() == 37  # the original's threshold keeps ~38 tags


def test_generated_csv_reads_cleanly_with_unique_tags_per_row(tmp_path):
    path = tmp_path / "all_data.csv"
    names = inputs.write_safebooru_csv(path, 3000, n_tags=20_000, chunk=1000)
    rows = list(read_rows(path))
    assert len(rows) == 3000 and not any(isinstance(r, BadRow) for r in rows)
    assert len({r.id for r in rows}) == 3000
    counts = Counter(t for r in rows for t in r.tags)
    assert 0.55 < counts[names[0]] / 3000 < 0.65  # 1girl
    with open(path, encoding="utf-8") as f:
        next(f)
        lines = [line.rstrip("\n").rsplit(",", 1)[1].split(" ") for line in f]
    assert all(len(t) == len(set(t)) and t == sorted(t) for t in lines)


def test_original_set_dic_agrees_with_set_dic_py(tmp_path):
    csv_path = tmp_path / "all_data.csv"
    inputs.write_safebooru_csv(csv_path, 2000, n_tags=5000, chunk=500)
    original.set_dic(csv_path, tmp_path / "original_dic.txt", min_count=200)
    tags = set_dic.main(["--data-dir", str(tmp_path), "--csv", str(csv_path),
                         "--min-count", "200"])
    assert sorted((tmp_path / "original_dic.txt").read_text().split()) == sorted(tags)


def test_original_check_counts_broken_files_but_deletes_nothing(tmp_path):
    folder = tmp_path / "anime_images" / "1girl"
    folder.mkdir(parents=True)
    (folder / "1.jpg").write_bytes(image_bytes())
    (folder / "2.jpg").write_bytes(b"not an image")
    assert original.check(tmp_path / "anime_images") == {"entries": 2, "bad": 1}
    assert sorted(p.name for p in folder.iterdir()) == ["1.jpg", "2.jpg"]


def test_server_waits_its_latency_and_serves_any_id(tmp_path):
    (tmp_path / "1.jpg").write_bytes(image_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", str(tmp_path),
                             "--latency", "0.3"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        start = time.monotonic()
        body = urllib.request.urlopen(f"{url}/thumbnails/12345.jpg", timeout=10).read()
        assert time.monotonic() - start >= 0.3
        assert body == (tmp_path / "1.jpg").read_bytes()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/other/file.txt", timeout=10)
    finally:
        proc.terminate()
        proc.wait()


def test_fp32_peak_follows_the_vector_flags():
    avx512, _ = machine.fp32_peak({"flags": "avx2 fma avx512f", "cpu MHz": "2000"}, 2)
    avx2, _ = machine.fp32_peak({"flags": "avx avx2 fma", "cpu MHz": "2000"}, 2)
    assert (avx512, avx2) == (2 * 2.0 * 64, 2 * 2.0 * 32)


def test_seed_cnn_flops_are_counted_per_layer():
    from bench.tf_work import model_flops

    layers = model_flops(100, 38)["layers"]  # Keras numbers layer names per process: by order
    assert layers[0][1] == 2 * 100 * 100 * 32 * 5 * 5 * 3
    assert layers[1][1] == 2 * 50 * 50 * 64 * 5 * 5 * 32
    assert dict(layers)["logits"] == 2 * 512 * 38


def test_results_say_which_goals_were_missed():
    rows = [Row("deal", "1/s", "2/s", "2.0x", ">= 3x", False, "deal-1"),
            Row("inference", "1/s", "9/s", "9.0x", ">= 5x", True)]
    text = markdown("t", ["machine"], rows, [], [], ["deal: why"], [])
    assert "| deal | 1/s | 2/s | 2.0x | >= 3x | **not met** |" in text
    assert "| inference | 1/s | 9/s | 9.0x | >= 5x | met |" in text
    assert "- deal: why" in text


def test_results_sections_are_replaced_in_place_and_kept_by_run_py(tmp_path):
    from bench.sections import kept_sections, replace_section

    results = tmp_path / "results.md"
    results.write_text("# Benchmark\n\nrows\n")
    replace_section(results, "Tagging real pictures", ["| a |", "first"])
    replace_section(results, "Tagging real pictures", ["| b |", "second"])
    text = results.read_text()
    assert text.startswith("# Benchmark\n\nrows\n") and text.count("## Tagging real pictures") == 1
    assert "second" in text and "first" not in text
    rewritten = "# Benchmark again\n" + kept_sections(results)  # what run.py writes
    assert "## Tagging real pictures" in rewritten and "second" in rewritten
