"""Procedurally drawn anime-style thumbnails with truthful Safebooru tags, for demos and tests.

    python -m tagger.demo.synth data/demo --n 3000 --seed 0
    python -m tagger.demo.synth data/demo --n 20000 --workers 4 --image-format png
"""
import argparse
import contextlib
import math
import multiprocessing
import time
from pathlib import Path
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageChops, ImageDraw
from tqdm import tqdm

from tagger.core.cli import non_negative_int, positive_int
from tagger.core.files import atomic_csv_writer, atomic_path
from tagger.core.folders import DataFolder
from tagger.demo.pen import Pen, darker, lighter, oval_points, pick, shade

DEMO_TAGS = (
    "1girl", "multiple_girls", "black_hair", "blonde_hair", "brown_hair", "blue_hair",
    "long_hair", "short_hair", "twintails", "ponytail", "blue_eyes", "red_eyes",
    "green_eyes", "brown_eyes", "hat", "ribbon", "bow", "animal_ears", "smile",
    "open_mouth", "closed_eyes", "blush", "monochrome", "simple_background",
)
CSV_HEADER = ("id", "created_at", "rating", "score", "sample_url", "sample_width",
              "sample_height", "preview_url", "tags")
IMAGE_FORMATS = MappingProxyType({"jpg": "JPEG", "png": "PNG"})
SUPERSAMPLE = 2  # drawing scale before the LANCZOS downsample that antialiases edges

# Base colours of the hair and eye families. Nothing else drawn (skin, clothes, accessories,
# backgrounds) comes near them, so tests can check these tags from pixels.
HAIR_RGB = MappingProxyType({"black_hair": (40, 38, 50), "blonde_hair": (248, 214, 110),
                             "brown_hair": (120, 62, 40), "blue_hair": (70, 90, 220)})
EYE_RGB = MappingProxyType({"blue_eyes": (20, 180, 235), "red_eyes": (225, 25, 40),
                            "green_eyes": (40, 180, 70), "brown_eyes": (210, 140, 20)})
SKIN, SKIN_LINE, SKIN_SHADOW = (255, 228, 212), (222, 160, 140), (246, 206, 194)
LASH = (100, 24, 70)  # dark plum lashes and pupils: far from every hair and eye family
MOUTH, TONGUE, BLUSH, BLUSH_LINE = (175, 35, 85), (245, 135, 155), (250, 165, 180), (236, 110, 140)
WHITE, EAR_INNER = (255, 255, 255), (250, 185, 205)
PASTELS = ((250, 250, 250), (225, 225, 232), (248, 200, 222), (214, 198, 246), (196, 236, 214),
           (196, 232, 246), (236, 212, 240), (206, 214, 250))
BUSY = PASTELS + ((236, 120, 180), (165, 120, 215), (100, 175, 180), (150, 150, 162),
                  (200, 95, 200), (130, 205, 195), (245, 170, 140))
CLOTHES = ((250, 250, 250), (240, 150, 190), (150, 100, 205), (80, 160, 170), (190, 70, 140),
           (220, 225, 235))
ACCESSORIES = ((250, 120, 180), (252, 252, 252), (170, 90, 225), (215, 50, 175), (150, 200, 255))
HATS = ((250, 250, 250), (150, 90, 205), (240, 140, 190), (80, 160, 160), (130, 80, 160))

# Per-character tag probabilities; a few depend on earlier choices as they do on Safebooru.
HAIR_P = (("black_hair", .30), ("brown_hair", .28), ("blonde_hair", .24), ("blue_hair", .18))
STYLE_P = (("long_hair", .47), ("short_hair", .23), ("twintails", .16), ("ponytail", .14))
EYE_P = MappingProxyType({
    "blonde_hair": (("blue_eyes", .45), ("red_eyes", .15), ("green_eyes", .22), ("brown_eyes", .18)),
    "brown_hair": (("blue_eyes", .22), ("red_eyes", .2), ("green_eyes", .18), ("brown_eyes", .4)),
    "other": (("blue_eyes", .3), ("red_eyes", .3), ("green_eyes", .2), ("brown_eyes", .2)),
})
P_SMILE, P_OPEN_MOUTH, P_BOW, P_HAT = .45, .3, .25, .18
P_BLUSH = (.25, .5)          # without, with smile
P_CLOSED_EYES = (.07, .2)    # without, with smile
P_EARS = (.18, .06)          # without, with hat
P_RIBBON = (.2, .5)          # without, with twintails
P_MULTI, P_THREE, P_MONO, P_SIMPLE_BG = .15, .2, .05, .55
HEAD_SCALE = MappingProxyType({1: (.17, .22), 2: (.105, .13), 3: (.08, .095)})  # x image width
COLOUR_TAGS = frozenset(HAIR_RGB) | frozenset(EYE_RGB)
TAIL = ((.8, -.8), (1.3, -.95), (1.85, -.45), (2.1, .5), (2, 1.6), (1.7, 2.6), (1.5, 1.7),
        (1.3, .6), (1, -.2))  # right twintail, head radius 1, y down
PONYTAIL = ((.3, -1.1), (1.2, -1.35), (1.9, -1), (2.2, -.1), (2.05, 1), (1.75, 2.3), (1.55, 1.1),
            (1.45, .1), (1.1, -.6))


def sample_character(rng):
    """Random choices for one character: what it shows and the colours and pose to draw it with."""
    hair, style = pick(rng, HAIR_P), pick(rng, STYLE_P)
    smile, hat = rng.random() < P_SMILE, rng.random() < P_HAT
    eyes = pick(rng, EYE_P.get(hair, EYE_P["other"]))
    clothes, collar = (CLOTHES[i] for i in rng.integers(len(CLOTHES), size=2))
    bows = [c for c in ACCESSORIES if min(math.dist(c, clothes), math.dist(c, collar)) > 80]  # stands out
    k = 2 * int(rng.integers(4, 7)) + 1  # bangs: alternating gaps and spike tips, right to left
    bang_y = np.where(np.arange(k) % 2, rng.uniform(-.22, -.1, k), rng.uniform(-.55, -.4, k))
    return {
        "hair": hair, "style": style, "eyes": eyes, "smile": smile, "hat": hat,
        "closed_eyes": rng.random() < P_CLOSED_EYES[smile],
        "open_mouth": rng.random() < P_OPEN_MOUTH,
        "blush": rng.random() < P_BLUSH[smile],
        "animal_ears": rng.random() < P_EARS[hat],
        "ribbon": rng.random() < P_RIBBON[style == "twintails"],
        "bow": rng.random() < P_BOW,
        "hair_rgb": shade(rng, HAIR_RGB[hair]), "eye_rgb": shade(rng, EYE_RGB[eyes]),
        "clothes": clothes, "collar": collar, "ribbon_rgb": ACCESSORIES[rng.integers(len(ACCESSORIES))],
        "bow_rgb": bows[rng.integers(len(bows))],
        "hat_rgb": HATS[rng.integers(len(HATS))], "hat_pointed": rng.random() < .4,
        "hat_h": rng.uniform(.6, .9), "side": int(rng.choice((-1, 1))),
        "length": rng.uniform(2.4, 3.1), "tail_spread": rng.uniform(.9, 1.05),
        "bangs": list(zip(np.linspace(1, -1, k), bang_y)),
        "tilt": rng.uniform(-.2, .2), "gaze": rng.uniform(-1, 1),
    }


def character_tags(ch):
    """The Safebooru tags one sampled character shows (before monochrome removes colours)."""
    tags = {ch["hair"], "short_hair" if ch["style"] == "short_hair" else "long_hair"}
    tags |= {ch["style"]} if ch["style"] in ("twintails", "ponytail") else set()
    tags.add("closed_eyes" if ch["closed_eyes"] else ch["eyes"])
    return tags | {t for t in ("smile", "open_mouth", "blush", "hat", "animal_ears", "ribbon", "bow")
                   if ch[t]}


def _bow_shape(pen, x, y, size, rgb, tails):
    """A ribbon bow: two loops, a knot and optionally two hanging tails."""
    dark = darker(rgb)
    for sx in (-1, 1):
        parts = ([(0, 0), (.3, .55), (.12, .6)],) if tails else ()
        for part in parts + ([(0, 0), (.5, -.34), (.62, 0), (.5, .34)],):
            pen.poly([(x + sx * size * u, y + size * v) for u, v in part], rgb, dark)
    pen.oval(x, y, .13 * size, .15 * size, rgb, dark)


def _draw_back_hair(pen, ch):
    """Hair behind the head and body: long or short back hair, twintails or a ponytail."""
    rgb, dark = ch["hair_rgb"], darker(ch["hair_rgb"])
    top = oval_points(0, -.05, 1.15, 1.12, 16, math.pi, 2 * math.pi)
    if ch["style"] == "long_hair":
        n = ch["length"]
        body = [(1.3, .4), (1.55, n - .3), (1.2, n), (.6, n - .2), (0, n), (-.6, n - .2), (-1.2, n),
                (-1.55, n - .3), (-1.3, .4)]
    else:
        body = [(1.2, .35), (1.1, .8), (.7, .6), (-.7, .6), (-1.1, .8), (-1.2, .35)]
    pen.poly(top + body, rgb, dark)
    if ch["style"] == "twintails":
        tail, tie, sides = [(x * ch["tail_spread"], y) for x, y in TAIL], (1, -.78), (-1, 1)
    elif ch["style"] == "ponytail":
        tail, tie, sides = PONYTAIL, (1.05, -1.1), (ch["side"],)
    else:
        return
    for sx in sides:
        pen.poly(tail, rgb, dark, sx)
        pen.line(tail[1:4] + tail[5:6], dark, .05, sx)  # a strand line down the bunch
        pen.oval(sx * tie[0], tie[1], .15, .15, LASH)  # hair tie


def _draw_body(pen, ch):
    """Neck, shoulders in clothes, a collar and the chest bow."""
    pen.poly([(-.28, .6), (.28, .6), (.3, 1.7), (-.3, 1.7)], SKIN, SKIN_LINE)
    pen.oval(0, .95, .3, .16, SKIN_SHADOW)
    clothes = ch["clothes"]
    pen.poly([(-.32, 1.5), (.32, 1.5), (1.15, 1.65), (1.55, 2.05), (1.9, 14), (-1.9, 14),
              (-1.55, 2.05), (-1.15, 1.65)], clothes, darker(clothes, .8))
    collar = ch["collar"] if ch["collar"] != clothes else WHITE
    pen.poly([(-.32, 1.5), (0, 2.05), (.32, 1.5), (.8, 1.62), (0, 2.5), (-.8, 1.62)], collar,
             darker(collar, .8))
    if ch["bow"]:
        _bow_shape(pen, 0, 2.12, 1.2, ch["bow_rgb"], tails=False)


def _draw_eyes(pen, ch):
    """Large anime eyes with coloured irises, or closed eye arcs."""
    eye = ch["eye_rgb"]
    for sx in (-1, 1):
        x, y = sx * .42, .28
        if ch["closed_eyes"]:
            pen.line(oval_points(x, y - .06, .24, .16, 9, .2, math.pi - .2), LASH, .09)
            continue
        gx = x + ch["gaze"] * .05
        pen.oval(x, y, .23, .28, WHITE, SKIN_LINE)
        pen.oval(gx, y + .02, .17, .25, darker(eye, .75))
        pen.oval(gx, y + .08, .145, .18, eye)
        pen.oval(gx, y + .05, .07, .11, LASH)
        pen.oval(gx - .06, y - .07, .055, .06, WHITE)
        lash = oval_points(x, y + .03, .27, .31, 9, math.pi * 1.05, math.pi * 1.95)
        pen.line(lash + [(x + sx * .32, y - .16)], LASH, .09)


def _draw_face(pen, ch):
    """Face, eyes, blush and mouth."""
    jaw = [(.98, .3), (.72, .8), (.3, 1.08), (0, 1.15), (-.3, 1.08), (-.72, .8), (-.98, .3)]
    pen.poly(oval_points(0, 0, 1, 1, 14, math.pi, 2 * math.pi) + jaw, SKIN, SKIN_LINE)
    if ch["blush"]:
        for sx in (-1, 1):
            pen.oval(sx * .58, .63, .2, .09, BLUSH)
            for i in range(3):
                x = sx * .58 + (i - 1) * .09
                pen.line([(x + .03, .57), (x - .03, .69)], BLUSH_LINE, .03)
    _draw_eyes(pen, ch)
    if ch["open_mouth"] and ch["smile"]:
        pen.poly(oval_points(0, .73, .22, .22, 11, 0, math.pi), MOUTH, LASH)
        pen.oval(0, .87, .11, .05, TONGUE)
    elif ch["open_mouth"]:
        pen.oval(0, .82, .09, .12, MOUTH, LASH)
    elif ch["smile"]:
        pen.line(oval_points(0, .7, .2, .16, 7, .35, math.pi - .35), LASH, .07)
    else:
        pen.line([(-.09, .8), (.09, .8)], LASH, .05)


def _draw_front_hair(pen, ch):
    """Bangs over the forehead and side locks framing the face (over the shoulders if long)."""
    rgb, dark = ch["hair_rgb"], darker(ch["hair_rgb"])
    top = oval_points(0, -.08, 1.1, 1.08, 14, math.pi, 2 * math.pi)
    pen.poly(top + [(1.08, .25)] + ch["bangs"] + [(-1.08, .25)], rgb, dark)
    pen.line(oval_points(0, -.2, .72, .62, 7, math.pi * 1.2, math.pi * 1.8), lighter(rgb), .1)
    n = ch["length"] if ch["style"] == "long_hair" else .85
    lock = [(.7, -.55), (1.12, -.45), (1.2, n / 2), (1.1, n - .1), (.98, n + .12), (.95, n / 2), (.85, .3)]
    for sx in (-1, 1):
        pen.poly(lock, rgb, dark, sx)


def _draw_headwear(pen, ch):
    """Hat, cat ears and hair ribbons, drawn last so they stay visible."""
    if ch["hat"]:
        rgb, dark, h = ch["hat_rgb"], darker(ch["hat_rgb"]), ch["hat_h"]
        pen.oval(0, -.85, 1.6, .33, rgb, dark)
        if ch["hat_pointed"]:
            tip = (ch["side"] * .7, -1 - 1.8 * h)  # a witch hat's bent tip
            crown = [(-.8, -.9), (-.2, -.9 - 1.4 * h), tip, (.25, -.9 - 1.2 * h), (.8, -.9)]
        else:
            crown = oval_points(0, -.92, .82, h, 12, math.pi, 2 * math.pi)
        pen.poly(crown, rgb, dark)
        pen.poly([(-.8, -1.08), (.8, -1.08), (.82, -.9), (-.82, -.9)], lighter(rgb), dark)
    if ch["animal_ears"]:
        rgb, dark = ch["hair_rgb"], darker(ch["hair_rgb"])
        for sx in (-1, 1):
            pen.poly([(.25, -1.12), (1, -2), (1.12, -.55)], rgb, dark, sx)
            pen.poly([(.48, -1.05), (.97, -1.72), (1.01, -.75)], EAR_INNER, sx=sx)
    if ch["ribbon"]:
        if ch["style"] == "twintails":
            spots = [(-1, -.78), (1, -.78)]
        elif ch["style"] == "ponytail":
            spots = [(ch["side"] * 1.05, -1.1)]
        else:
            spots = [(ch["side"] * .95, -.55)]
        for x, y in spots:
            _bow_shape(pen, x, y, 1.05, ch["ribbon_rgb"], tails=True)


def _background(rng, w, simple):
    """A w x w canvas: plain colour or soft gradient if `simple`, else stripes, tiles or shapes."""
    if simple:
        a, b = (np.array(PASTELS[i]) for i in rng.choice(len(PASTELS), 2, replace=False))
        t = np.linspace(0, 1, w)[:, None, None] * (rng.random() < .6)  # else one plain colour
        img = Image.fromarray((a * (1 - t) + b * t).astype(np.uint8)).resize((w, w), Image.NEAREST)
        return img.transpose(Image.ROTATE_90) if rng.random() < .5 else img
    base, *colours = (BUSY[i] for i in rng.choice(len(BUSY), 3, replace=False))
    img = Image.new("RGB", (w, w), base)
    draw, kind, step = ImageDraw.Draw(img), int(rng.integers(4)), int(w * rng.uniform(.08, .16))
    if kind == 0:  # diagonal stripes
        for i, x in enumerate(range(-w, w, step)):
            draw.line([(x, 0), (x + w, w)], fill=colours[i % 2], width=step // 2)
    elif kind < 3:  # polka dots or a checkerboard
        for i, x in enumerate(range(0, w, step)):
            for j, y in enumerate(range(0, w, step)):
                if kind == 1:
                    draw.ellipse([x, y, x + step // 2, y + step // 2], fill=colours[(i + j) % 2])
                elif (i + j) % 2:
                    draw.rectangle([x, y, x + step, y + step], fill=colours[0])
    else:  # scattered circles and squares
        for _ in range(int(rng.integers(10, 18))):
            x, y, r = rng.uniform(0, w), rng.uniform(0, w), rng.uniform(.04, .15) * w
            shape = draw.ellipse if rng.random() < .5 else draw.rectangle
            shape([x - r, y - r, x + r, y + r], fill=colours[int(rng.integers(2))])
    if rng.random() < .5:  # grain, one value per output pixel
        noise = rng.integers(0, 37, (w // SUPERSAMPLE, w // SUPERSAMPLE), dtype=np.uint8)
        noise = Image.fromarray(noise).resize((w, w), Image.NEAREST).convert("RGB")
        img = ImageChops.add(img, noise, offset=-18)
    return img


def _place(rng, w, ch, n, i):
    """Centre and scale (canvas pixels) of character i of n, keeping its tagged parts in frame."""
    lo, hi = HEAD_SCALE[n]
    s = w * rng.uniform(lo, hi)
    half = (2.2 if ch["style"] in ("twintails", "ponytail") else 1.7) * s
    slot = w / n
    jitter = max(0.0, slot / 2 - half)
    cx = slot * (i + .5) + rng.uniform(-jitter, jitter)
    top = (2.1 if ch["hat"] or ch["animal_ears"] else 1.3) * s
    bottom = w - 2.5 * s
    cy = rng.uniform(top, bottom) if top < bottom else (top + bottom) / 2
    return cx, cy, s


def draw_post(rng, size=128):
    """One RGB size x size thumbnail of one to three characters and its sorted Safebooru tags."""
    w = size * SUPERSAMPLE
    n = 1 if rng.random() >= P_MULTI else (3 if rng.random() < P_THREE else 2)
    simple, mono = rng.random() < P_SIMPLE_BG, rng.random() < P_MONO
    canvas = _background(rng, w, simple)
    draw = ImageDraw.Draw(canvas)
    tags = {"1girl" if n == 1 else "multiple_girls"} | ({"simple_background"} if simple else set())
    chars = [sample_character(rng) for _ in range(n)]
    pens = []
    for i, ch in enumerate(chars):
        cx, cy, s = _place(rng, w, ch, n, i)
        pens.append((Pen(draw, cx, cy, s, ch["tilt"]), Pen(draw, cx, cy, s, ch["tilt"] * .3)))
        tags |= character_tags(ch)
    for ch, (head, _) in zip(chars, pens):  # all back hair first: no bunch covers a neighbour's face
        _draw_back_hair(head, ch)
    for ch, (head, body) in zip(chars, pens):
        _draw_body(body, ch)
        _draw_face(head, ch)
        _draw_front_hair(head, ch)
        _draw_headwear(head, ch)
    img = canvas.resize((size, size), Image.LANCZOS)
    if mono:
        img = img.convert("L").convert("RGB")
        tags = (tags - COLOUR_TAGS) | {"monochrome"}
    return img, sorted(tags)


def _make_post(job):
    """Draw post `post_id`, save its thumbnail and return its all_data.csv row."""
    post_id, seed, size, thumb_dir, image_format, base_url = job
    rng = np.random.default_rng([seed, post_id])
    img, tags = draw_post(rng, size)
    with atomic_path(Path(thumb_dir) / f"{post_id}.{image_format}") as tmp:
        img.save(tmp, format=IMAGE_FORMATS[image_format], quality=92)  # PNG ignores quality
    created_at = 1_262_304_000 + post_id * 1800 + int(rng.integers(1800))  # ids grow with time
    score = int(rng.geometric(.2)) - 1
    url = f"{base_url}/thumbnails/{post_id}.{image_format}"
    return [post_id, created_at, "s", score, url, size, size, url, " ".join(tags)]


def write_dataset(out_dir, n, seed=0, base_url="http://127.0.0.1:8000", size=128, image_format="jpg",
                  workers=1, progress=False):
    """Write n posts as out_dir/thumbnails/<id>.<ext> plus out_dir/all_data.csv; return the CSV path."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, not {image_format!r}")
    out_dir = Path(out_dir)
    thumb_dir = out_dir / "thumbnails"
    thumb_dir.mkdir(parents=True, exist_ok=True)
    jobs = ((i, seed, size, str(thumb_dir), image_format, base_url.rstrip("/")) for i in range(1, n + 1))
    csv_path = DataFolder(out_dir).csv
    pool = multiprocessing.Pool(workers) if workers > 1 else contextlib.nullcontext()
    with pool, atomic_csv_writer(csv_path, CSV_HEADER) as writer:
        rows = pool.imap(_make_post, jobs, chunksize=32) if workers > 1 else map(_make_post, jobs)
        writer.writerows(tqdm(rows, total=n, unit="post", disable=not progress))
    return csv_path


def parse_args(argv=None):
    """Command-line options of `python -m tagger.demo.synth`."""
    p = argparse.ArgumentParser(description="Draw a Safebooru-like demo data set of anime thumbnails.")
    p.add_argument("out_dir", type=Path, help="folder for thumbnails/ and all_data.csv")
    p.add_argument("--n", type=positive_int, default=3000, help="number of posts (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--size", type=positive_int, default=128, help="thumbnail side in pixels (default: %(default)s)")
    p.add_argument("--image-format", choices=sorted(IMAGE_FORMATS), default="jpg",
                   help="thumbnail file format (default: %(default)s)")
    p.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="URL prefix written into preview_url/sample_url (default: %(default)s)")
    p.add_argument("--workers", type=positive_int, default=1, help="drawing processes (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None):
    """Write the demo data set described by the command line."""
    args = parse_args(argv)
    start = time.perf_counter()
    csv_path = write_dataset(args.out_dir, args.n, seed=args.seed, base_url=args.base_url, size=args.size,
                             image_format=args.image_format, workers=args.workers, progress=True)
    print(f"drew {args.n:,} posts into {csv_path.parent} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
