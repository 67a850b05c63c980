"""The benchmark's generated inputs: anime thumbnails, and Safebooru-like CSVs of any length.

Tag frequencies follow a broken power law fitted to the Safebooru dump: the most common tag
(1girl) is on 60% of posts, the 38th on 6% (the original's 120,000-post threshold over two
million posts gives 38 tags), then frequency falls as 1/rank down a tail of 300,000
distinct tags, for about 25 tags per row.
"""
import csv
import hashlib
import io
import multiprocessing
from pathlib import Path

import numpy as np

from tagger.demo.synth import CSV_HEADER, draw_post

# Common Safebooru tags, most frequent first; the first 38 are the dictionary at 2M rows.
HEAD_TAGS = (
    "1girl solo long_hair smile blush short_hair open_mouth looking_at_viewer blue_eyes "
    "simple_background blonde_hair brown_hair black_hair skirt hat red_eyes white_background "
    "thighhighs breasts multiple_girls dress bow ribbon hair_ornament twintails gloves "
    "brown_eyes closed_eyes green_eyes school_uniform animal_ears monochrome sitting "
    "ponytail blue_hair jewelry weapon comic long_sleeves shirt standing purple_eyes "
    "silver_hair very_long_hair holding touhou hair_ribbon 1boy navel purple_hair pink_hair "
    "wings tail japanese_clothes yellow_eyes :d bangs jacket full_body red_hair"
).split()
WORDS = (
    "hair eyes long short blue red green black white pink silver skirt shirt dress ribbon "
    "bow hat gloves boots sleeves collar jacket uniform school maid swimsuit kimono sword "
    "gun wings tail ears horns halo smile tears sky flower cherry blossoms moon star night "
    "rain snow water beach forest room window chair bed book cup food cake cat dog fox "
    "bird dragon holding looking standing sitting lying running hand hands arms legs open "
    "closed mouth tongue teeth fang glasses mask scarf necktie belt bag umbrella"
).split()
SYLLABLES = "a ka sa ta na ha ma ya ra wa ki shi chi ni hi mi ri ku su tsu nu fu mu yu ru ko so to no ho mo yo ro n".split()
SERIES = ("touhou", "kantai_collection", "idolmaster", "fate", "vocaloid", "pokemon",
          "love_live!", "azur_lane", "hololive", "genshin_impact", "original", "precure")


def _candidates(rng, n):
    """n made-up tags: character names (`kirisame_tomoyo`, some with a series) and phrases."""
    syl = rng.choice(SYLLABLES, (n, 5)).tolist()
    cut = rng.integers(1, 4, (n, 2)).tolist()
    words = rng.choice(WORDS, (n, 3)).tolist()
    kind, series = rng.random(n).tolist(), rng.choice(SERIES, n).tolist()
    out = []
    for k in range(n):
        a, b = cut[k]
        if kind[k] < 0.6:
            name = "".join(syl[k][:a + 1]) + "_" + "".join(syl[k][a + 1:a + 2 + b])
            out.append(f"{name}_({series[k]})" if kind[k] < 0.15 else name)
        else:
            out.append("_".join(words[k][:b]))
    return out


def tag_vocabulary(n_tags, seed=0):
    """`n_tags` distinct Safebooru-like tag names, most frequent first."""
    rng = np.random.default_rng(seed)
    names = list(dict.fromkeys(HEAD_TAGS))
    while len(names) < n_tags:
        names = list(dict.fromkeys(names + _candidates(rng, n_tags)))
    return names[:n_tags]


def tag_probabilities(n_tags, top=0.6, knee=38, head_exponent=0.633, tail_exponent=1.0):
    """Chance that a post carries the tag of each rank (a broken power law)."""
    rank = np.arange(1, n_tags + 1, dtype=np.float64)
    at_knee = top * knee ** -head_exponent
    return np.where(rank <= knee, top * rank ** -head_exponent,
                    at_knee * (rank / knee) ** -tail_exponent)


def _chunk_tags(rng, n_rows, rates):
    """(row index, tag index) pairs, each tag on each row independently with its chance.

    Poisson draws per tag with rate -log(1 - p) give a row the tag with probability p.
    """
    counts = rng.poisson(rates * n_rows)
    tags = np.repeat(np.arange(len(rates), dtype=np.int64), counts)
    rows = rng.integers(0, n_rows, len(tags))
    keys = np.sort(rows * len(rates) + tags)
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # a tag once per row
    return keys // len(rates), keys % len(rates)


def post_ids(first_row, n_rows):
    """The ids of rows first_row .. first_row + n_rows - 1 (0-based) of write_safebooru_csv."""
    return 1 + np.arange(first_row, first_row + n_rows) * 3 // 2  # gaps, as deleted posts leave


def _prefixes(rng, first_row, n_rows, preview_base=None):
    """The eight columns before `tags` of n rows, ending in a comma."""
    ids = post_ids(first_row, n_rows)
    digests = rng.bytes(16 * n_rows)
    out = []
    for k, post_id in enumerate(ids.tolist()):
        h = digests[16 * k:16 * k + 16].hex()
        folder = post_id // 1000
        preview = (f"{preview_base}/thumbnails/{post_id}.jpg" if preview_base else
                   f"//safebooru.org/thumbnails/{folder}/thumbnail_{h}.jpg?{post_id}")
        out.append(f"{post_id},{1279000000 + post_id * 130},s,{k % 7},"
                   f"//safebooru.org//samples/{folder}/sample_{h}.jpg?{post_id},850,1200,"
                   f"{preview},")
    return out


def write_safebooru_csv(path, n_rows, n_tags=300_000, seed=0, chunk=100_000, preview_base=None):
    """Write a Safebooru-like all_data.csv of `n_rows` posts; return the tag vocabulary.
    With `preview_base` (http://host:port), preview URLs are PREVIEW_BASE/thumbnails/<id>.jpg."""
    rng = np.random.default_rng(seed)
    names = tag_vocabulary(n_tags, seed)
    alphabetical = sorted(range(n_tags), key=names.__getitem__)  # rows list tags A-Z
    rates = -np.log1p(-tag_probabilities(n_tags))[alphabetical]
    by_letter = np.array([names[i] for i in alphabetical], dtype=object)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(",".join(CSV_HEADER) + "\n")
        for start in range(0, n_rows, chunk):
            n = min(chunk, n_rows - start)
            rows, tags = _chunk_tags(rng, n, rates)
            bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
            words = by_letter[tags].tolist()
            prefixes = _prefixes(rng, start, n, preview_base)
            f.writelines(f"{prefixes[i]}{' '.join(words[bounds[i]:bounds[i + 1]])}\n"
                         for i in range(n))
    return names


def copy_head(src, dst, n_rows):
    """Write the header and the first `n_rows` rows of a CSV to another file."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for k, line in enumerate(fin):
            fout.write(line)
            if k == n_rows:
                break


def _draw(job):
    folder, post_id, size, seed = job
    img, _ = draw_post(np.random.default_rng([seed, post_id]), size)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    (Path(folder) / f"{post_id}.jpg").write_bytes(buf.getvalue())
    return hashlib.sha1(buf.getvalue()).hexdigest()


def thumbnails(folder, n, size=150, seed=0, workers=2):
    """Draw n anime thumbnails as folder/<id>.jpg (ids 1..n); return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder), i, size, seed) for i in range(1, n + 1)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_draw, jobs, chunksize=32)
    return folder


def write_posts_csv(path, ids, url_of, tags_of):
    """A Safebooru CSV with the given ids, preview URLs and tag lists."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for post_id in ids:
            url = url_of(post_id)
            writer.writerow([post_id, 1279000000, "s", 0, url, 150, 150, url,
                             " ".join(tags_of(post_id))])


def dictionary_tags(n_posts, dic, per_post=10, seed=0, vocabulary=()):
    """{id: tags}: about `per_post` dictionary tags per post plus some tags outside it."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(dic) + 1) ** 0.5
    weights /= weights.sum()
    others = list(vocabulary) or ["tag_outside_the_dictionary"]
    labels = {}
    for post_id in range(1, n_posts + 1):
        k = int(np.clip(rng.poisson(per_post), 1, len(dic)))
        chosen = [dic[i] for i in rng.choice(len(dic), k, replace=False, p=weights)]
        extra = [others[i] for i in rng.integers(0, len(others), 15)]
        labels[post_id] = sorted(set(chosen + extra))
    return labels
