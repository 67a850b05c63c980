"""draw.py's plan and outputs: where each picture's drawn PNG (and caption, scores) go under
--out, and the worker job that draws the chosen tags on a decoded picture."""
import os
from pathlib import Path

import numpy as np

from ..core.progress import plural
from .pictures import mirror, plan_names, renamed_lines, with_suffix


def check_out(inputs, out):
    """Refuse (ValueError) an --out that is an input folder or holds one: outputs would mix
    with pictures."""
    real_out = Path(out).resolve()
    for path in inputs:
        real = Path(path).resolve()
        if Path(path).is_dir() and (real == real_out or real_out in real.parents):
            raise ValueError(f"--out {out} is, or holds, the input folder {path}: choose a "
                             f"folder outside it or inside it (outputs inside an input are "
                             f"never re-tagged)")


def plan_drawing(paths, inputs, out, caption, as_json, overwrite):
    """{picture: its output paths (the PNG first)}, the pictures still to draw, and those
    named after their whole file name."""
    names, renamed = plan_names(paths, mirror(inputs, out))
    suffixes = ["_tags.png"] + [".txt"] * caption + [".json"] * as_json
    outputs = {p: [with_suffix(names[p], s) for s in suffixes] for p in paths}
    todo = [p for p in paths if overwrite or not all(o.exists() for o in outputs[p])]
    return outputs, todo, renamed


def drawing_summary(out, drawn, skipped, failed, renamed, outputs):
    """draw.py's closing lines."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += renamed_lines(renamed, "drawn", lambda p: outputs[p][0].name)
    lines.append(f"drew tags on {plural(drawn, 'picture')} into {out}"
                 f", already drawn {skipped:,} (skipped; --overwrite to redo)"
                 + (f", skipped {len(failed):,} unreadable" if failed else "")
                 + (f", {len(renamed):,} named after their whole file name (stems clash)"
                    if renamed else ""))
    return lines


def draw_job(picture_file, chosen, out_path, compress_level=1):
    """Worker: draw the chosen tags on a decoded picture and save it as PNG (atomically).

    PNG level 1: a drawn 2048 px picture saves several times faster than at Pillow's
    default 6, for files about a third larger."""
    from PIL import Image

    from ..core.files import atomic_path
    from ..core.render import draw_tags

    picture = Image.fromarray(np.load(picture_file))
    try:
        with atomic_path(out_path, suffix=".png") as tmp:
            draw_tags(picture, chosen).save(tmp, "PNG", compress_level=compress_level)
    finally:
        os.unlink(picture_file)
    return out_path
