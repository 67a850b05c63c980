"""deal.py: resize once, hard-link into tag folders, labels.csv, errors, reruns."""
import os

import numpy as np
import pytest
from PIL import Image

import deal
from conftest import image_bytes, make_downloaded, read_csv
from tagger.core.tags import tag_to_folder

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def run(data_dir, *flags):
    return deal.main(["--data-dir", str(data_dir), "--workers", "2", *flags])


def posts(n=4):
    tags = ["1girl smile hat", "1girl solo", "smile", "solo other"]
    return [(i + 1, tags[i % 4], image_bytes(COLOURS[i % 4], (150, 100))) for i in range(n)]


def test_groups_resized_images_into_hard_linked_tag_folders(data_dir):
    make_downloaded(data_dir, posts(), ["1girl", "smile", "hat"])
    counts = run(data_dir, "--image-size", "64")
    assert counts["resized"] == 3 and counts["no dictionary tag"] == 1
    out = data_dir / "anime_images"
    assert sorted(os.listdir(out / "1girl")) == ["1.jpg", "2.jpg"]
    assert sorted(os.listdir(out / "smile")) == ["1.jpg", "3.jpg"]
    assert os.listdir(out / "hat") == ["1.jpg"]
    one = [out / "1girl" / "1.jpg", out / "smile" / "1.jpg", out / "hat" / "1.jpg",
           data_dir / "resized" / "1.jpg"]
    assert len({p.stat().st_ino for p in one}) == 1  # one image on disk
    img = Image.open(out / "smile" / "3.jpg")
    assert img.size == (64, 64) and img.mode == "RGB"
    labels = {r["id"]: r for r in read_csv(data_dir / "labels.csv")}
    assert labels["1"]["tags"] == "1girl smile hat" and labels["1"]["path"] == "resized/1.jpg"
    assert set(labels) == {"1", "2", "3"}


def test_pad_is_default_and_stretch_is_the_original(data_dir):
    make_downloaded(data_dir, [(1, "smile", image_bytes((0, 0, 200), (200, 100)))], ["smile"])
    run(data_dir, "--image-size", "50")
    padded = np.asarray(Image.open(data_dir / "anime_images" / "smile" / "1.jpg"))
    assert padded[2, 25].min() > 240 and padded[25, 25, 2] > 150  # white bar, blue middle
    run(data_dir, "--image-size", "50", "--fit", "stretch", "--overwrite")
    stretched = np.asarray(Image.open(data_dir / "anime_images" / "smile" / "1.jpg"))
    assert stretched[2, 25, 2] > 150 and stretched[2, 25, 0] < 80


def test_unreadable_images_are_listed_and_never_stop_the_run(data_dir, capsys):
    broken = image_bytes()[:300]
    make_downloaded(data_dir, posts(3) + [(9, "smile", broken), (10, "smile", b"not an image"),
                                          (11, "smile", None)], ["1girl", "smile"])
    counts = run(data_dir)
    assert counts["resized"] == 3 and counts["failed"] == 2 and counts["not downloaded"] == 1
    errors = {r["id"]: r["reason"] for r in read_csv(data_dir / "deal_errors.csv")}
    assert set(errors) == {"9", "10"} and all(r.startswith("unreadable") for r in errors.values())
    assert "9" not in {r["id"] for r in read_csv(data_dir / "labels.csv")}
    assert "skipped 2" in capsys.readouterr().out


def test_rerun_skips_done_and_does_not_undo_removals(data_dir):
    make_downloaded(data_dir, posts(), ["1girl", "smile"])
    run(data_dir)
    (data_dir / "anime_images" / "smile" / "1.jpg").unlink()  # as check.py's cap would
    counts = run(data_dir)
    assert counts["already done"] == 3 and counts["resized"] == 0
    assert not (data_dir / "anime_images" / "smile" / "1.jpg").exists()
    assert len(read_csv(data_dir / "labels.csv")) == 3


def test_refuses_to_mix_image_sizes_without_overwrite(data_dir, capsys):
    make_downloaded(data_dir, posts(), ["smile"])
    run(data_dir, "--image-size", "64")
    with pytest.raises(SystemExit):
        run(data_dir, "--image-size", "100")
    assert "--overwrite" in capsys.readouterr().err
    run(data_dir, "--image-size", "100", "--overwrite")
    assert Image.open(data_dir / "anime_images" / "smile" / "1.jpg").size == (100, 100)


def test_strange_tags_stay_inside_the_output_folder(data_dir, tmp_path):
    strange = ["..", "../../escape", "/\\/\\/\\", ":d", "con", "?", "c:", "^_^"]
    make_downloaded(data_dir, [(1, " ".join(strange), image_bytes())], strange)
    run(data_dir)
    folders = sorted(os.listdir(data_dir / "anime_images"))
    assert len(folders) == len(strange)
    assert sorted(tag_to_folder(t) for t in strange) == folders
    for folder in folders:
        assert os.listdir(data_dir / "anime_images" / folder) == ["1.jpg"]
    outside = {p for p in tmp_path.rglob("*")} - {p for p in tmp_path.rglob("*") if data_dir in p.parents or p == data_dir}
    assert outside == set()
    assert read_csv(data_dir / "labels.csv")[0]["tags"].split() == strange


def test_limit_and_missing_dictionary(data_dir, capsys):
    make_downloaded(data_dir, posts(), ["1girl", "smile"])
    assert run(data_dir, "--limit", "1")["resized"] == 1
    (data_dir / "dic.txt").unlink()
    with pytest.raises(SystemExit):
        run(data_dir)
    assert "Run set_dic.py first" in capsys.readouterr().err


def test_interrupted_run_is_finished_by_the_rerun(data_dir):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    posts = [(i, "smile", image_bytes(COLOURS[i % 4], (150, 120))) for i in range(1, 401)]
    make_downloaded(data_dir, posts, ["smile"])
    cmd = [sys.executable, str(ROOT / "deal.py"), "--data-dir", str(data_dir), "--workers", "1"]
    # as from a terminal: a test run started in the background (`cmd &`) ignores SIGINT,
    # and a child would inherit that and never see the Ctrl-C
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    resized = data_dir / "resized"
    deadline = time.monotonic() + 60
    # 21 files: the newest may be written but not yet in labels.csv (it is redone on the rerun)
    while time.monotonic() < deadline and (not resized.exists() or len(os.listdir(resized)) < 21):
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)  # freeze it at once, so the Ctrl-C lands mid-run even
    proc.send_signal(signal.SIGINT)   # on a fast machine; labels.csv is still written on the
    proc.send_signal(signal.SIGCONT)  # way out
    proc.wait()
    done = len(read_csv(data_dir / "labels.csv"))
    assert 20 <= done < 400, "the interrupt should land mid-run"
    counts = run(data_dir)  # an image resized just before the interrupt counts as done too
    assert counts["already done"] >= done and counts["resized"] == 400 - counts["already done"]
    assert len(os.listdir(data_dir / "anime_images" / "smile")) == 400
    assert len(read_csv(data_dir / "labels.csv")) == 400


def test_a_changed_dictionary_relabels_and_relinks_without_resizing(data_dir, capsys):
    make_downloaded(data_dir, posts(), ["1girl"])
    run(data_dir)
    out = data_dir / "anime_images"
    mtime = (data_dir / "resized" / "1.jpg").stat().st_mtime_ns
    (data_dir / "dic.txt").write_text("1girl\nsmile\nhat\n")
    counts = run(data_dir)  # image 3 (smile only) is new to the dictionary: resized now
    assert counts["resized"] == 1 and counts["relabelled"] == 1 and counts["relinked"] == 2
    assert (data_dir / "resized" / "1.jpg").stat().st_mtime_ns == mtime  # not resized again
    assert sorted(os.listdir(out / "smile")) == ["1.jpg", "3.jpg"]
    assert os.listdir(out / "hat") == ["1.jpg"]
    assert (out / "hat" / "1.jpg").stat().st_ino == (data_dir / "resized" / "1.jpg").stat().st_ino
    labels = {r["id"]: r["tags"] for r in read_csv(data_dir / "labels.csv")}
    assert labels["1"] == "1girl smile hat" and labels["2"] == "1girl"
    assert "relabelled 1 images" in capsys.readouterr().out
    counts = run(data_dir)
    assert counts["resized"] == 0 and counts["relabelled"] == 0 and counts["relinked"] == 0
    (data_dir / "dic.txt").write_text("smile\n")
    run(data_dir)
    assert sorted(os.listdir(out)) == ["smile"]  # no folder for a tag no longer in the dic
    moved = data_dir / "replaced" / "anime_images"
    assert sorted(os.listdir(moved / "1girl")) == ["1.jpg", "2.jpg"]  # moved, not deleted
    labels = {r["id"]: r["tags"] for r in read_csv(data_dir / "labels.csv")}
    assert labels == {"1": "smile", "3": "smile"}
    (data_dir / "dic.txt").write_text("smile\n1girl\n")  # image 2 is back: linked, not resized
    counts = run(data_dir)
    assert counts["resized"] == 0 and counts["relabelled"] == 2 and counts["relinked"] == 2
    assert sorted(os.listdir(out / "1girl")) == ["1.jpg", "2.jpg"]


def test_relinking_leaves_what_check_removed(data_dir):
    import check

    make_downloaded(data_dir, posts(8), ["1girl"])
    run(data_dir, "--image-size", "32")
    check.main(["--data-dir", str(data_dir), "--max-per-tag", "2", "--workers", "1"])
    kept = sorted(os.listdir(data_dir / "anime_images" / "1girl"))
    (data_dir / "dic.txt").write_text("1girl\nsmile\n")
    run(data_dir, "--image-size", "32")
    assert sorted(os.listdir(data_dir / "anime_images" / "1girl")) == kept  # the cap holds
    assert len(os.listdir(data_dir / "anime_images" / "smile")) == 4


def test_deleted_outputs_are_made_again(data_dir):
    import shutil

    make_downloaded(data_dir, posts(), ["1girl", "smile"])
    run(data_dir)
    shutil.rmtree(data_dir / "anime_images")
    shutil.rmtree(data_dir / "resized")
    counts = run(data_dir)
    assert counts["resized"] == 3 and counts["already done"] == 0
    assert sorted(os.listdir(data_dir / "anime_images" / "1girl")) == ["1.jpg", "2.jpg"]
    shutil.rmtree(data_dir / "anime_images")  # the tag folders alone: linked again, not resized
    counts = run(data_dir)
    assert counts["resized"] == 0 and counts["relinked"] == 4
    assert sorted(os.listdir(data_dir / "anime_images" / "smile")) == ["1.jpg", "3.jpg"]


def test_a_run_that_made_nothing_records_no_size(data_dir):
    make_downloaded(data_dir, [(i, "smile", None) for i in (1, 2)], ["smile"])  # not downloaded
    with pytest.raises(SystemExit):  # nothing to resize: it names download.py
        run(data_dir, "--image-size", "64")
    assert not (data_dir / "deal_args.json").exists()
    (data_dir / "images" / "1.jpg").write_bytes(image_bytes())
    assert run(data_dir, "--image-size", "100")["resized"] == 1  # not refused for "64"
    assert Image.open(data_dir / "resized" / "1.jpg").size == (100, 100)


def test_a_run_killed_after_its_last_resize_is_finished_without_resizing(data_dir):
    make_downloaded(data_dir, posts(), ["1girl", "smile"])
    run(data_dir, "--image-size", "40")
    expected = {n: (data_dir / n).read_bytes() for n in ("labels.csv", "deal_args.json")}
    for name in expected:  # what kill -9 after the last resize, before the end, leaves out
        (data_dir / name).unlink()
    counts = run(data_dir, "--image-size", "40")
    assert counts["resized"] == 0 and counts["already done"] == 3
    assert {n: (data_dir / n).read_bytes() for n in expected} == expected


def test_before_download_names_download_and_writes_nothing(data_dir, capsys):
    make_downloaded(data_dir, [(1, "smile", None), (2, "smile", None)], ["smile"])
    (data_dir / "images").rmdir()
    before = sorted(p.name for p in data_dir.iterdir())
    with pytest.raises(SystemExit) as stopped:
        deal.main(["--data-dir", str(data_dir)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: no downloaded thumbnails in {data_dir / 'images'}; run download.py first"
    assert sorted(p.name for p in data_dir.iterdir()) == before  # no folders, no labels.csv


def test_a_data_folder_that_does_not_exist_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        deal.main(["--data-dir", str(tmp_path / "dat")])
    assert f"the data folder {tmp_path / 'dat'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "dat").exists()


def test_the_recorded_size_is_the_default_and_another_is_a_sentence(data_dir, capsys):
    make_downloaded(data_dir, posts(), ["1girl", "smile", "hat"])
    run(data_dir, "--image-size", "40", "--fit", "stretch")
    assert run(data_dir)["already done"] == 3  # 40 px, stretched: the recorded ones
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run(data_dir, "--image-size", "64")
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "{" not in err
    assert "holds images made at 40x40, stretched" in err and "not 64x64, stretched" in err
    assert not (data_dir / ".deal_scratch.sqlite").exists()


def test_sizes_over_448_are_refused_in_one_line(data_dir, capsys):
    make_downloaded(data_dir, posts(1), ["1girl"])
    with pytest.raises(SystemExit):
        run(data_dir, "--image-size", "449")
    assert "449 is not an integer in [1, 448]" in capsys.readouterr().err
    assert not (data_dir / "resized").exists()
