"""Every name a stage writes, the next one reads back: tags of any length and bytes, names
that differ only in case, ids of any number of digits, every accepted image format, through
set_dic.py, deal.py, check.py (cap, restore) and train.py."""
import csv
import io
import os
import random

import numpy as np
from PIL import Image

import check
import deal
import set_dic
import train
from conftest import HEADER, read_csv
from tagger.data.safebooru import MAX_ID
from tagger.core.tags import load_dic, tag_to_folder

FIXED = ["a" * 300, "a" * 299 + "b", "é" * 150, "日本" * 100, "long_hair", "Long_Hair",
         "LONG_HAIR", "..", ".", "con", "CON.txt", "%~abc", "%41", "a/b", "a\\b", ":d", "^_^",
         "ctl\x01char", "\x7f", "😀", "e\u0301", "\u00e9", "\u202eevil", "zero\u200bwidth",
         'quo"te', "com,ma", "bad\ufffdbyte"]
NASTY_CHARS = "aZ._-%~:/\\?*<>|\"' \u00e9\u65e5\u200b\u202e\x01\x7f😀"


def nasty_tags(seed, n=8):
    """Seeded tags of nasty characters and lengths (spaces split tags, so none inside)."""
    rng = random.Random(seed)
    chars = NASTY_CHARS.replace(" ", "")
    return ["".join(rng.choice(chars) for _ in range(rng.choice((1, 3, 40, 120, 260))))
            for _ in range(n)]


def picture(i, fmt):
    """A distinct small picture in one of the formats download.py accepts."""
    rng = np.random.default_rng(i)
    arr = rng.integers(0, 256, (24 + i % 5, 30, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    img = {"PNG": img.convert("RGBA"), "GIF": img.convert("P")}.get(fmt, img)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def write_hostile_data(data_dir, tags):
    """all_data.csv (raw bytes, one tag not UTF-8) and images/<id>.<ext> in four formats."""
    ids = [1, 7, 12, 99, 12345, 2**28 + 3, 98765432101, MAX_ID] + list(range(200, 206))
    images = data_dir / "images"
    images.mkdir(parents=True)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(HEADER)
    for n, post_id in enumerate(ids):
        fmt, ext = [("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp")][n % 4]
        (images / f"{post_id}.{ext}").write_bytes(picture(n, fmt))
        shown = f"000{post_id}" if post_id == 12 else str(post_id)  # leading zeros
        url = f"http://127.0.0.1:9/{post_id}.{ext}"
        writer.writerow([shown, "0", "s", "0", url, "30", "24", url, " ".join(tags)])
    writer.writerow([str(MAX_ID + 1), "0", "s", "0", "http://127.0.0.1:9/x.jpg", "1", "1",
                     "http://127.0.0.1:9/x.jpg", " ".join(tags)])  # too large: a bad row
    raw = text.getvalue().encode().replace("bad\ufffdbyte".encode(), b"bad\xffbyte")
    (data_dir / "all_data.csv").write_bytes(raw)
    return ids


def test_hostile_tags_and_ids_round_trip_through_every_stage(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    tags = FIXED + nasty_tags(12)
    ids = write_hostile_data(data, tags)
    flags = ["--data-dir", str(data)]
    set_dic.main([*flags, "--top", "1000", "--workers", "2"])  # ids over 2**28 too
    dic = load_dic(data / "dic.txt")
    assert sorted(dic) == sorted(set(tags))
    assert len({tag_to_folder(t).lower() for t in dic}) == len(dic)  # distinct, ignoring case

    deal.main([*flags, "--image-size", "16", "--workers", "2"])
    folders = sorted(os.listdir(data / "anime_images"))
    assert folders == sorted(tag_to_folder(t) for t in dic)
    assert any("%~" in f for f in folders)  # some names were shortened with a hash
    labels = {int(r["id"]): r["tags"].split() for r in read_csv(data / "labels.csv")}
    assert sorted(labels) == sorted(ids) and all(sorted(t) == sorted(dic) for t in labels.values())
    for folder in folders:
        assert sorted(os.listdir(data / "anime_images" / folder)) == sorted(f"{i}.jpg" for i in ids)

    check.main([*flags, "--max-per-tag", "11", "--workers", "1"])  # the cap, not a traceback
    report = read_csv(data / "check_report.csv")
    assert sorted(r["tag"] for r in report) == sorted(dic)
    assert all(r["after"] == "11" and r["capped"] == "3" for r in report)
    capped = read_csv(data / "capped.csv")
    assert len(capped) == 3 * len(dic) and {r["tag"] for r in capped} == set(dic)

    assert deal.main([*flags, "--image-size", "16"])["relinked"] == 0  # the caps stay
    assert all(len(os.listdir(data / "anime_images" / f)) == 11 for f in folders)
    check.main([*flags, "--restore"])
    assert all(len(os.listdir(data / "anime_images" / f)) == len(ids) for f in folders)

    run = tmp_path / "runs" / "r"
    train.main([*flags, "--run", str(run), "--epochs", "1", "--batch-size", "8",
                "--val-fraction", "0.25", "--test-fraction", "0"])
    assert load_dic(run / "dic.txt") == dic
    assert [r["tag"] for r in read_csv(run / "thresholds.csv")] == dic
    assert sorted(int(r["id"]) for r in read_csv(run / "split.csv")) == sorted(ids)
    assert "Traceback" not in capsys.readouterr().err
