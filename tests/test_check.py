"""check.py: full decoding, quarantine, duplicates and the per-tag cap."""
import os

import pytest
from PIL import Image

import check
import deal
from conftest import image_bytes, make_downloaded, read_csv


def build(data_dir, n=12, size=32):
    """Deal n distinct images tagged a (all), b (even ids) and c (id 1)."""
    posts = [(i, "a" + (" b" if i % 2 == 0 else "") + (" c" if i == 1 else ""),
              image_bytes((i * 20 % 256, 90, 200 - i * 10), (60, 60))) for i in range(1, n + 1)]
    make_downloaded(data_dir, posts, ["a", "b", "c"])
    deal.main(["--data-dir", str(data_dir), "--image-size", str(size), "--workers", "1"])
    return data_dir / "anime_images"


def run(data_dir, *flags):
    return check.main(["--data-dir", str(data_dir), "--workers", "2", *flags])


def test_truncated_and_wrong_size_images_are_quarantined_with_reason(data_dir):
    out = build(data_dir)
    data = (out / "a" / "3.jpg").read_bytes()
    os.unlink(out / "a" / "3.jpg")
    (out / "a" / "3.jpg").write_bytes(data[: len(data) // 2])  # truncated, in folder a only
    Image.new("RGB", (40, 40), "red").save(out / "b" / "4.jpg.tmp", "JPEG")
    os.unlink(out / "b" / "4.jpg")
    os.replace(out / "b" / "4.jpg.tmp", out / "b" / "4.jpg")
    run(data_dir, "--max-per-tag", "0")
    assert not (out / "a" / "3.jpg").exists() and not (out / "b" / "4.jpg").exists()
    assert (data_dir / "quarantine" / "a" / "3.jpg").read_bytes() == data[: len(data) // 2]
    reasons = {r["entry"]: r["reason"] for r in read_csv(data_dir / "quarantine" / "reasons.csv")}
    assert "truncated" in reasons["a/3.jpg"].lower() and reasons["b/4.jpg"] == "size 40x40, expected 32x32"
    assert (out / "a" / "4.jpg").exists()  # a different file: still valid


def test_duplicates_by_bytes_or_pixels_keep_the_lowest_id(data_dir):
    out = build(data_dir)
    img = Image.open(out / "a" / "2.jpg")
    original = (out / "a" / "2.jpg").read_bytes()
    comment = b"another uploader"  # a JPEG comment segment: other bytes, same pixels
    same_pixels = original[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + original[2:]
    for name, data in (("7.jpg", original), ("9.jpg", same_pixels)):
        os.unlink(out / "a" / name)
        (out / "a" / name).write_bytes(data)
    assert (out / "a" / "9.jpg").read_bytes() != (out / "a" / "2.jpg").read_bytes()
    assert Image.open(out / "a" / "9.jpg").tobytes() == img.tobytes()
    run(data_dir, "--max-per-tag", "0")
    assert (out / "a" / "2.jpg").exists() and (out / "b" / "2.jpg").exists()
    assert not (out / "a" / "7.jpg").exists() and not (out / "a" / "9.jpg").exists()
    reasons = {r["entry"]: r["reason"] for r in read_csv(data_dir / "quarantine" / "reasons.csv")}
    assert reasons["a/7.jpg"] == reasons["a/9.jpg"] == "duplicate of id 2"


def test_cap_is_per_folder_deterministic_and_keeps_images_elsewhere(data_dir):
    out = build(data_dir, n=12)
    before_labels = read_csv(data_dir / "labels.csv")
    run(data_dir, "--max-per-tag", "4", "--seed", "1")
    kept_a = sorted(os.listdir(out / "a"))
    assert len(kept_a) == 4 and len(os.listdir(out / "b")) == 4 and os.listdir(out / "c") == ["1.jpg"]
    assert read_csv(data_dir / "labels.csv") == before_labels
    assert len(os.listdir(data_dir / "resized")) == 12  # nothing lost
    capped_from_a = {f"{i}.jpg" for i in range(2, 13, 2)} - set(kept_a) - set(os.listdir(out / "b"))
    assert not any((out / "b" / name).exists() for name in capped_from_a)
    report = {r["tag"]: r for r in read_csv(data_dir / "check_report.csv")}
    assert report["a"]["before"] == "12" and report["a"]["capped"] == "8" and report["a"]["after"] == "4"
    other = data_dir.parent / "other"
    build(other, n=12)
    run(other, "--max-per-tag", "4", "--seed", "1")
    assert sorted(os.listdir(other / "anime_images" / "a")) == kept_a
    other2 = data_dir.parent / "other2"
    build(other2, n=12)
    run(other2, "--max-per-tag", "4", "--seed", "2")
    assert sorted(os.listdir(other2 / "anime_images" / "a")) != kept_a


def test_delete_removes_instead_of_quarantine(data_dir):
    out = build(data_dir, n=3)
    os.unlink(out / "a" / "2.jpg")
    (out / "a" / "2.jpg").write_bytes(b"garbage")
    run(data_dir, "--delete")
    assert not (out / "a" / "2.jpg").exists() and not (data_dir / "quarantine").exists()
    assert read_csv(data_dir / "deleted.csv")[0]["entry"] == "a/2.jpg"


def test_rerun_changes_nothing_and_says_so_until_the_folders_change(data_dir, capsys):
    out = build(data_dir, n=6)
    run(data_dir, "--max-per-tag", "4")
    first = {f: sorted(os.listdir(out / f)) for f in "abc"}
    report = (data_dir / "check_report.csv").read_bytes()
    capsys.readouterr()
    run(data_dir, "--max-per-tag", "4")
    assert {f: sorted(os.listdir(out / f)) for f in "abc"} == first
    assert (data_dir / "check_report.csv").read_bytes() == report  # the first run's counts
    assert "already checked with these settings" in capsys.readouterr().out
    run(data_dir, "--max-per-tag", "5")  # other settings: checked again
    text = capsys.readouterr().out
    assert "before" in text and "capped 0 entries" in text
    (out / "a" / "1.jpg").unlink()  # the folders changed: checked again
    run(data_dir, "--max-per-tag", "5")
    assert "before" in capsys.readouterr().out


def test_without_deal_output_is_a_clear_error(data_dir, capsys):
    with pytest.raises(SystemExit):
        run(data_dir)
    assert "run deal.py first" in capsys.readouterr().err


def test_a_contradicting_image_size_is_refused_and_changes_nothing(data_dir, capsys):
    out = build(data_dir, n=4, size=32)
    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))
    with pytest.raises(SystemExit) as exc:
        run(data_dir, "--image-size", "64")
    assert exc.value.code == 2 and "deal_args.json" in capsys.readouterr().err
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == before
    run(data_dir, "--image-size", "32")  # the recorded size is fine, and so is no flag
    assert len(os.listdir(out / "a")) == 4


def test_restore_brings_back_capped_links_and_quarantined_entries(data_dir, capsys):
    out = build(data_dir, n=12)
    everything = {f: sorted(os.listdir(out / f)) for f in "abc"}
    data = (out / "a" / "3.jpg").read_bytes()
    os.unlink(out / "a" / "3.jpg")
    (out / "a" / "3.jpg").write_bytes(data[:100])  # broken: quarantined
    run(data_dir, "--max-per-tag", "4")
    assert len(os.listdir(out / "a")) == 4 and len(os.listdir(out / "b")) == 4
    capsys.readouterr()
    run(data_dir, "--restore")
    assert "restored 1 quarantined entries and 9 capped links" in capsys.readouterr().out
    assert {f: sorted(os.listdir(out / f)) for f in "abc"} == everything
    assert (out / "a" / "3.jpg").read_bytes() == data[:100]  # the very file, back in place
    assert read_csv(data_dir / "capped.csv") == [] and \
        read_csv(data_dir / "quarantine" / "reasons.csv") == []
    run(data_dir, "--max-per-tag", "0")  # a different choice: no cap this time
    assert len(os.listdir(out / "a")) == 11 and len(os.listdir(out / "b")) == 6


def test_an_empty_tree_says_to_run_deal_first(data_dir, capsys):
    import shutil

    out = build(data_dir, n=3)
    shutil.rmtree(out)
    out.mkdir()
    (out / "a").mkdir()
    with pytest.raises(SystemExit) as exc:
        run(data_dir)
    assert exc.value.code == 2 and "run deal.py first" in capsys.readouterr().err


def test_a_data_folder_that_does_not_exist_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        check.main(["--data-dir", str(tmp_path / "dat")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"the data folder {tmp_path / 'dat'} does not exist; check --data-dir" in err
    assert "deal.py" not in err and not (tmp_path / "dat").exists()


def test_no_cap_by_default_and_the_originals_cap_one_flag_away(data_dir, capsys):
    out = build(data_dir, n=12)
    run(data_dir)
    assert len(os.listdir(out / "a")) == 12 and read_csv(data_dir / "capped.csv") == []
    assert "no cap; report in" in capsys.readouterr().out
    run(data_dir, "--max-per-tag", "5")
    assert len(os.listdir(out / "a")) == 5
    assert "capped 8 entries at 5 per tag" in capsys.readouterr().out  # a: 7, b: 1 over 5
    assert not (data_dir / ".check_scratch.sqlite").exists()


def test_before_deal_names_deal_and_writes_nothing(data_dir, capsys):
    (data_dir / "all_data.csv").write_text("id,preview_url,tags\n")
    before = sorted(os.listdir(data_dir))
    with pytest.raises(SystemExit) as stop:
        run(data_dir)
    assert stop.value.code == 2 and "run deal.py first" in capsys.readouterr().err
    assert sorted(os.listdir(data_dir)) == before  # no scratch file, no report
