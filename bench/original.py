"""The original student project's way of doing each stage, re-implemented for the benchmark.

Each function does the same work as the project's script on the same input, the way the
original did it, and returns measurements for bench/run.py. They run only on the
benchmark's own generated copies under bench/_work (the original's check deleted files it
could not read; here nothing outside the benchmark's folder is ever touched).
"""
import csv
import os
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ORIGINAL_MIN_COUNT = 120000  # the original's threshold: tags on more than 120,000 posts


def download(csv_path, out):
    """One file at a time with urllib, as the original: a new connection per thumbnail."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        urllib.request.urlretrieve(row["preview_url"], out / f"{row['id']}.jpg")
    return {"items": len(rows)}


def set_dic(csv_path, out, min_count=ORIGINAL_MIN_COUNT):
    """Read the whole CSV into a list, count every tag in a dict loop, keep the frequent ones."""
    csv.field_size_limit(sys.maxsize)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("tags")
    dic = {}
    for row in rows[1:]:
        for tag in row[column].split(" "):
            if tag in dic:
                dic[tag] += 1
            else:
                dic[tag] = 1
    kept = [tag for tag, n in dic.items() if n > min_count]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    return {"items": len(rows) - 1, "tags": len(kept)}


def deal(csv_path, dic_path, images, out, size=100):
    """One process: open and resize each image, then save one JPEG copy per dictionary tag."""
    dic = set(Path(dic_path).read_text(encoding="utf-8").split())
    for tag in dic:
        os.makedirs(os.path.join(out, tag), exist_ok=True)
    done = 0
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            tags = [t for t in row["tags"].split(" ") if t in dic]
            src = os.path.join(images, f"{row['id']}.jpg")
            if not tags or not os.path.exists(src):
                continue
            img = Image.open(src).convert("RGB").resize((size, size))
            for tag in tags:
                img.save(os.path.join(out, tag, f"{row['id']}.jpg"))
            done += 1
    return {"items": done}


def check(root):
    """Open and verify() every file in every tag folder, one process.

    The original deleted a file that failed; this copy only counts it, and runs on the
    benchmark's own generated folder anyway.
    """
    files = bad = 0
    for folder in sorted(os.listdir(root)):
        for name in os.listdir(os.path.join(root, folder)):
            files += 1
            try:
                with Image.open(os.path.join(root, folder, name)) as img:
                    img.verify()
            except Exception:
                bad += 1
    return {"entries": files, "bad": bad}


def predict_one_by_one(model, paths, size=100):
    """Open, resize and predict each image with its own model.predict call, as the original."""
    start = time.perf_counter()
    for path in paths:
        img = Image.open(path).convert("RGB").resize((size, size))
        x = np.asarray(img, dtype=np.float32)[None]
        model.predict(x, verbose=0)
    return time.perf_counter() - start
