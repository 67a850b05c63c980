"""draw.py's plan and outputs: where each picture's drawn PNG (and caption, scores) go under
--out, and the worker job that draws the chosen tags on a decoded picture."""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.progress import plural
from .pictures import (DRAWN_MARK, LISTED, mirror, not_picture_lines, plan_names, renamed_lines,
                       with_suffix)
from .writer import BACKUPS


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


@dataclass
class DrawingPlan:
    """draw.py's plan: each picture's output paths (the PNG first), the pictures still to
    draw, those named after their whole file name, and the outputs already there that are
    left as they are (no --overwrite) while their picture's other outputs are written."""
    outputs: dict
    todo: list
    renamed: list
    kept: list


def plan_drawing(paths, inputs, out, caption, as_json, overwrite):
    """The DrawingPlan of `paths` under `out`."""
    names, renamed = plan_names(paths, mirror(inputs, out))
    suffixes = ["_tags.png"] + [".txt"] * caption + [".json"] * as_json
    outputs = {p: [with_suffix(names[p], s) for s in suffixes] for p in paths}
    todo = [p for p in paths if overwrite or not all(os.path.lexists(o) for o in outputs[p])]
    kept = [o for p in todo for o in outputs[p] if not writable(o, overwrite)]
    return DrawingPlan(outputs, todo, renamed, kept)


def writable(path, overwrite):
    """An output to write: not there, or there and replaced with --overwrite; never a folder."""
    return not os.path.lexists(path) or overwrite and not os.path.isdir(path)


def write_side_outputs(writer, plan, result, tags, overwrite):
    """A drawn picture's caption and scores, each unless it is there (without --overwrite)."""
    for path in plan.outputs[result.path][1:]:
        if writable(path, overwrite):
            text = (", ".join(t for t, _ in result.chosen) + "\n" if path.suffix == ".txt"
                    else scores_json(tags, result.scores))
            writer.write_bytes(path, text.encode("utf-8"), replace=overwrite)


def drawing_summary(out, drawn, failed, plan, others=()):
    """draw.py's closing lines."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += [f"{path}: a folder is in the way, left as it is" if path.is_dir() else
              f"{path}: exists, left as it is (--overwrite replaces it, keeping a backup in "
              f"{path.parent / BACKUPS})" for path in plan.kept[:LISTED]]
    lines += renamed_lines(plan.renamed, "drawn", lambda p: plan.outputs[p][0].name)
    lines += not_picture_lines(list(others))
    skipped = len(plan.outputs) - len(plan.todo)
    lines.append(f"drew tags on {plural(drawn, 'picture')} into {out}"
                 + (f", already drawn {skipped:,} (skipped; --overwrite to redo)" if skipped
                    else "")
                 + (f", skipped {len(failed):,} unreadable" if failed else "")
                 + (f", left {len(plan.kept):,} existing files as they are" if plan.kept else "")
                 + (f", {len(plan.renamed):,} named after their whole file name (stems clash)"
                    if plan.renamed else "")
                 + (f", {len(others):,} files skipped as not pictures" if others else ""))
    return lines


def draw_job(picture_file, chosen, out_path, writer, overwrite=False, compress_level=1):
    """Worker: draw the chosen tags on a decoded picture and save it as PNG through `writer`
    (unless it is there, without `overwrite`), marked as drawn so it is never taken for input.

    PNG level 1: a drawn 2048 px picture saves several times faster than at Pillow's
    default 6, for files about a third larger."""
    from PIL import Image, PngImagePlugin

    from ..core.render import draw_tags

    try:
        if writable(out_path, overwrite):
            picture = Image.fromarray(np.load(picture_file))
            info = PngImagePlugin.PngInfo()
            info.add_text(DRAWN_MARK, "draw.py")
            with writer.replacing(out_path, overwrite, suffix=".png") as tmp:
                draw_tags(picture, chosen).save(tmp, "PNG", compress_level=compress_level,
                                                pnginfo=info)
    finally:
        os.unlink(picture_file)
    return out_path


def scores_json(tags, scores):
    """Every tag's score as one JSON object, as draw.py's --json writes it."""
    return json.dumps({t: round(float(s), 5) for t, s in zip(tags, scores)}, indent=1) + "\n"
