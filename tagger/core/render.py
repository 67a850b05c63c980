"""Tags drawn on pictures: one picture with its scores, and a captioned grid for TensorBoard."""
import math
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .images import to_rgb

DEFAULT_MIN_SIDE = 400  # px; pictures with a shorter short side are enlarged to it
OVERLAY_MIN_SIDE = 720  # px; from this short side on, tags are drawn onto the picture
MAX_ENLARGED_SIDE = 1600  # px; enlarging never makes the long side longer than this
MIN_FONT_PX = 16
FONT_FRACTION = 0.025  # of the picture's short side
PANEL_RGB = (28, 28, 34)
OVERLAY_RGBA = (12, 12, 16, 185)  # dark panel, about 73% opaque
TEXT_RGB = (255, 255, 255)
MUTED_RGB = (170, 170, 180)
BAR_RGB = (86, 180, 233)
TRACK_RGB = (78, 78, 90)
CORRECT_RGB = (0, 130, 0)
WRONG_RGB = (205, 30, 30)
MISSED_RGB = (150, 150, 150)
MAX_CAPTION_LINES = 12


class _Columns(NamedTuple):
    """Pixel geometry of a tag list: padding, line height and column widths."""
    font_px: int
    pad: int
    gap: int
    line_h: int
    name_w: int
    bar_w: int
    num_w: int

    @property
    def width(self):
        return 2 * self.pad + self.name_w + 2 * self.gap + self.bar_w + self.num_w

    def height(self, n_lines):
        return 2 * self.pad + n_lines * self.line_h


def label_font_size(image_size):
    """Font size in px for tags drawn beside or onto a picture of `image_size` (width, height)."""
    return max(MIN_FONT_PX, round(FONT_FRACTION * min(image_size)))


def draw_tags(image, tags, min_side=None):
    """Return a new RGB image of `image` with its (tag, confidence) pairs drawn legibly."""
    min_side = min_side or DEFAULT_MIN_SIDE
    picture = to_rgb(image)
    picture = picture.copy() if picture is image else picture  # never draw on the caller's
    if min(picture.size) >= max(min_side, OVERLAY_MIN_SIDE):
        return _draw_onto(picture, tags)
    return _draw_beside(_enlarge(picture, min_side), tags)


def _enlarge(picture, min_side):
    """Scale `picture` up so its short side reaches `min_side`, within MAX_ENLARGED_SIDE."""
    width, height = picture.size
    longest = max(MAX_ENLARGED_SIDE, min_side)
    scale = min(min_side / min(width, height), longest / max(width, height))
    if scale <= 1:
        return picture
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _columns(rows, font, font_px, max_width):
    """Lay out `rows` of (text, confidence or None) in `font` within `max_width` px."""
    pad, gap = round(font_px * 0.7), round(font_px * 0.6)
    numbers = [score_text(conf) for _, conf in rows if conf is not None] or [""]
    num_w = math.ceil(max(font.getlength(text) for text in numbers))
    bar_w = font_px * 5 if num_w else 0
    name_w = math.ceil(max(font.getlength(text) for text, _ in rows))
    spare = max_width - (2 * pad + 2 * gap + bar_w + num_w)
    name_w = max(min(name_w, spare), font_px * 4)
    return _Columns(font_px, pad, gap, round(font_px * 1.45), name_w, bar_w, num_w)


def score_text(confidence):
    """Confidence as shown beside its bar."""
    return f"{confidence:.2f}" if math.isfinite(confidence) else "n/a"


def _ellipsize(text, font, max_width):
    """`text`, cut short with an ellipsis so it fits in `max_width` px of `font`."""
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "…") > max_width:
        text = text[:-1]
    return text + "…"


def _tag_rows(tags, max_rows=None):
    """(text, confidence) rows for `tags`; the last says how many were left out if too many."""
    rows = [(str(tag), float(conf)) for tag, conf in tags] or [("(no tags)", None)]
    if max_rows is not None and len(rows) > max_rows:
        kept = max(0, max_rows - 1)
        rows = rows[:kept] + [(f"+{len(rows) - kept} more", None)]
    return rows


def _draw_rows(draw, origin, rows, font, cols):
    """Draw each row's text, confidence bar and number, starting at `origin` (panel corner)."""
    left, top = origin
    bar_h = max(3, round(cols.font_px * 0.5))
    for i, (text, conf) in enumerate(rows):
        mid = top + cols.pad + i * cols.line_h + cols.line_h // 2
        x = left + cols.pad
        colour = TEXT_RGB if conf is not None else MUTED_RGB
        draw.text((x, mid), _ellipsize(text, font, cols.name_w), font=font, fill=colour,
                  anchor="lm")
        if conf is None:
            continue
        bar_x = x + cols.name_w + cols.gap
        bar_y = mid - bar_h // 2
        draw.rectangle([bar_x, bar_y, bar_x + cols.bar_w - 1, bar_y + bar_h - 1], fill=TRACK_RGB)
        filled = round(cols.bar_w * min(max(conf, 0.0), 1.0)) if math.isfinite(conf) else 0
        if filled:
            draw.rectangle([bar_x, bar_y, bar_x + filled - 1, bar_y + bar_h - 1], fill=BAR_RGB)
        draw.text((left + cols.width - cols.pad, mid), score_text(conf), font=font, fill=TEXT_RGB,
                  anchor="rm")


def _draw_beside(picture, tags):
    """Put `picture` on the left and a dark panel listing `tags` on its right."""
    font_px = label_font_size(picture.size)
    font = ImageFont.load_default(size=font_px)
    rows = _tag_rows(tags)
    cols = _columns(rows, font, font_px, max_width=font_px * 24)
    width, height = picture.size
    out = Image.new("RGB", (width + cols.width, max(height, cols.height(len(rows)))), PANEL_RGB)
    out.paste(picture, (0, 0))
    _draw_rows(ImageDraw.Draw(out), (width, 0), rows, font, cols)
    return out


def _draw_onto(picture, tags):
    """Draw `tags` on a translucent dark panel in the top-left corner of `picture` (in place)."""
    font_px = label_font_size(picture.size)
    font = ImageFont.load_default(size=font_px)
    width, height = picture.size
    margin = font_px
    cols = _columns(_tag_rows(tags), font, font_px, max_width=width // 2)
    rows = _tag_rows(tags, max_rows=max(1, (height - 2 * margin - 2 * cols.pad) // cols.line_h))
    box = (margin, margin, margin + cols.width, margin + cols.height(len(rows)))
    shade = Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), OVERLAY_RGBA)
    panel = Image.alpha_composite(picture.crop(box).convert("RGBA"), shade).convert("RGB")
    _draw_rows(ImageDraw.Draw(panel), (0, 0), rows, font, cols)
    picture.paste(panel, box[:2])
    return picture


def prediction_grid(images, predicted, true, columns=4, tile=192):
    """Return an RGB uint8 array (H, W, 3) of `images`, each captioned with its predicted tags.

    Right predictions are green, wrong ones red, true tags not predicted grey. For
    TensorBoard, pass `grid[None]` to tf.summary.image.
    """
    pictures = _batch_to_uint8(images)
    if not (len(pictures) == len(predicted) == len(true)) or not len(pictures):
        raise ValueError(f"need as many predictions and true tag lists as images, got "
                         f"{len(pictures)} images, {len(predicted)} and {len(true)}")
    font_px = max(12, round(tile / 14))
    font = ImageFont.load_default(size=font_px)
    line_h, gap = round(font_px * 1.3), max(6, tile // 24)
    captions = [_caption(p, t) for p, t in zip(predicted, true)]
    cell_h = tile + gap // 2 + max(len(c) for c in captions) * line_h
    columns = max(1, min(columns, len(pictures)))
    rows = math.ceil(len(pictures) / columns)
    header = line_h + gap
    size = (gap + columns * (tile + gap), header + rows * (cell_h + gap))
    canvas = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(canvas)
    _draw_legend(draw, (gap, gap), font)
    for i, (picture, caption) in enumerate(zip(pictures, captions)):
        x = gap + (i % columns) * (tile + gap)
        y = header + (i // columns) * (cell_h + gap)
        thumb = _fit_tile(Image.fromarray(picture), tile)
        canvas.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        for j, (text, colour) in enumerate(caption):
            draw.text((x, y + tile + gap // 2 + j * line_h), _ellipsize(text, font, tile),
                      font=font, fill=colour)
    return np.asarray(canvas)


def _batch_to_uint8(images):
    """(N, h, w[, 1|3|4]) floats in [0, 1] or integers in [0, 255] -> uint8 (N, h, w, 3)."""
    batch = np.asarray(images)
    if batch.ndim == 3:
        batch = batch[..., None]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images shaped (N, h, w, 3), got {batch.shape}")
    if np.issubdtype(batch.dtype, np.floating):
        batch = np.nan_to_num(batch) * 255
    batch = np.clip(np.round(batch), 0, 255).astype(np.uint8)
    return np.repeat(batch, 3, axis=-1) if batch.shape[-1] == 1 else batch[..., :3]


def _fit_tile(picture, tile):
    """Resize `picture` so its long side is `tile` px."""
    scale = tile / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _caption(predicted, true):
    """(text, colour) lines: predictions green if right, red if wrong; then missed tags grey."""
    true = [str(tag) for tag in true]
    names = {str(tag) for tag, _ in predicted}
    lines = [(f"{tag} {score_text(float(conf))}", CORRECT_RGB if str(tag) in true else WRONG_RGB)
             for tag, conf in predicted]
    missed = [(tag, MISSED_RGB) for tag in true if tag not in names]
    room = max(1, MAX_CAPTION_LINES - len(lines))
    if len(missed) > room:
        missed = missed[:room - 1] + [(f"+{len(missed) - room + 1} more missed", MISSED_RGB)]
    return lines + missed


def _draw_legend(draw, origin, font):
    """Explain the caption colours in one line at `origin`."""
    x, y = origin
    for text, colour in (("correct", CORRECT_RGB), ("wrong", WRONG_RGB), ("missed", MISSED_RGB)):
        draw.text((x, y), text, font=font, fill=colour)
        x += font.getlength(text + "   ")
