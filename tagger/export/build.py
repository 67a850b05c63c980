"""Exporting a trained run: build the graph, write it under a temporary name, check it against
Keras on a few pictures, then give it its final name (moving an earlier export aside)."""
import csv
import datetime
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cl_tagger, formats, quantize
from .graph import RATING_TAGS, WD14_SIZE, folded_bias_shift, wd14_model
from ..core.files import move_aside
from ..core.folders import ExportFolder, RunFolder
from ..core.images import prepare
from ..infer.keras_run import load_run
from ..infer.writer import locked_writer

MAX_DIFF = 1e-4  # the largest difference from Keras an export may have
CHECK_PICTURES = 8
RATING_TAG_ID = 9999999  # the id public WD14 taggers give their rating rows


@dataclass
class ExportResult:
    out: Path
    max_diff: float
    pictures: str      # where the checked pictures came from
    replaced: Path = None


def check_pictures(run, size, n=CHECK_PICTURES):
    """(uint8 RGB pictures (n, size, size, 3), where they came from): validation pictures of
    the run, else generated ones when its data folder is gone."""
    try:
        from ..train.dataset import load_examples, read_split

        folder = RunFolder(run.path)
        data = folder.data_folder(run.settings)
        if data is None:
            raise FileNotFoundError("the run's data folder is gone")
        split = read_split(folder.split)
        examples = load_examples(data.path, run.tags)
        held = [p for i, p in zip(examples.ids, examples.paths) if split.get(int(i)) != "train"]
        pictures = [prepare(path, size, run.fit) for path in held[:n]]
        if pictures:
            return np.stack(pictures), f"{len(pictures)} held-out pictures of the run"
    except (OSError, KeyError, ValueError):
        pass
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    noise[: n // 2, size // 4: size // 2] = 255  # white bands, like padding
    return noise, f"{n} generated pictures (the run's data folder was not found)"


def write_selected_tags(path, tags, counts):
    """A WD14 selected_tags.csv: 4 ratings (category 9), then every tag as general (0). Not
    character (4): kohya's script fails on a passing category-4 tag in this layout."""
    rows = [(RATING_TAG_ID, name, 9, 0) for name in RATING_TAGS]
    rows += [(i, tag, 0, counts.get(tag, 0)) for i, tag in enumerate(tags)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)  # quotes names with commas or quotes, as the tools' readers expect
        writer.writerow(("tag_id", "name", "category", "count"))
        writer.writerows(rows)


def tag_counts(run):
    """{tag: count} from the run's data folder (set_dic.py's tag_counts.csv), when it is there."""
    data = RunFolder(run.path).data_folder(run.settings)
    path = data.tag_counts if data else None
    if path is None or not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["tag"]: int(r["count"]) for r in csv.DictReader(f)}


def graph_for(run, fmt, thresholds, tool_threshold, resize):
    """The Keras model to write for `fmt`, and the side of the square pictures it takes."""
    if fmt not in formats.FOLDED:
        return run.model, run.image_size
    if thresholds == "tuned" and run.thresholds is None:
        raise ValueError(f"{run.path} has no thresholds.csv (train.py writes it when the run "
                         f"finishes), so there are no tuned thresholds to fold; finish the run, "
                         f"or export without --tuned")
    if fmt == "cl_tagger":
        return cl_tagger.graph(run, thresholds == "tuned", tool_threshold, resize)
    shift = folded_bias_shift(run.thresholds, tool_threshold) if thresholds == "tuned" else None
    return wd14_model(run.model, run.image_size, shift, resize), WD14_SIZE


def write_side_files(run, fmt, folder, info):
    """Everything beside the model: the tags, the run's dictionary, tuned thresholds and split
    (so the export tags and scores as its run does), and how it was made."""
    source, target = RunFolder(run.path), ExportFolder(folder)
    if fmt == "wd14":
        write_selected_tags(target.selected_tags, run.tags, tag_counts(run))
    if fmt == "cl_tagger":
        cl_tagger.write_tag_mapping(target.tag_mapping, run.tags)
    folded = info.get("thresholds") == "tuned"  # the scores are shifted: the tool's one applies
    for name in ExportFolder.COPIED:
        if getattr(source, name).is_file() and not (folded and name == "thresholds"):
            shutil.copyfile(getattr(source, name), getattr(target, name))
    target.info.write_text(json.dumps(info, indent=2) + "\n")


def self_check(model, fmt, written, pictures):
    """The largest difference between the written file and Keras on the pictures."""
    batch = pictures.astype(np.float32)
    if fmt == "wd14":
        batch = np.ascontiguousarray(batch[..., ::-1])  # the tools feed BGR
    if fmt == "cl_tagger":
        batch = cl_tagger.feed(pictures)
    expected = formats.keras_outputs(model, batch)
    got = formats.RUNNERS[fmt](written)(batch)
    return formats.max_difference(expected, got)


def steps(quantization="none"):
    """The steps export_run reports to its `step` callback, in order (for a progress bar)."""
    return ("loading the run", "building the graph", "converting",
            *(("quantising",) if quantization != "none" else ()), "checking against Keras",
            "writing")


def export_run(run_path, fmt, out=None, thresholds="none", tool_threshold=0.35, overwrite=False,
               resize="bicubic", log=print, quantization="none",
               calibration=quantize.DEFAULT_CALIBRATION, step=lambda name: None):
    """Export RUN to `out` (default RUN/export/FMT) in `fmt`, float32 or quantised
    (`quantization` int8, calibrated on `calibration` validation pictures); an ExportResult.
    `step(name)` is called as each of steps(quantization) begins."""
    if fmt not in formats.FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(formats.FORMATS)}")
    if thresholds == "tuned" and fmt not in formats.FOLDED:
        raise ValueError("--tuned folds the thresholds into a wd14 or cl_tagger export; the "
                         "other formats carry thresholds.csv beside the model instead")
    quantize.check_request(fmt, quantization, calibration)
    run_path = Path(run_path)
    out = Path(out) if out else RunFolder(run_path).export(fmt)
    check_out(out, overwrite)
    step("loading the run")
    run = load_run(run_path)
    step("building the graph")
    model, size = graph_for(run, fmt, thresholds, tool_threshold, resize)
    pictures, source = check_pictures(run, size)
    int8 = quantize.plan(run, fmt, size, quantization, calibration)
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked_writer([], files=[out]) as writer:
        check_out(out, overwrite)  # again, now that no other export can be writing there
        return write_export(run, fmt, out, writer, model, size, pictures, source,
                            dict(thresholds=thresholds, tool_threshold=tool_threshold,
                                 resize=resize), log, int8, step)


def is_export(folder):
    """True for a folder holding an earlier export of export.py (its export.json)."""
    try:
        info = json.loads(ExportFolder(folder).info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and info.get("format") in formats.FORMATS
            and not RunFolder(folder).model.exists())


def check_out(out, overwrite):
    """Refuse (one line) an --out that holds anything but an earlier export, and an earlier
    export without --overwrite."""
    if not os.path.lexists(out) or out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    if not out.is_dir() or out.is_symlink() or not is_export(out):
        raise FileExistsError(f"--out {out} holds something that is not an earlier export (no "
                              f"export.json of export.py): it was left as it is; choose another "
                              f"--out")
    if not overwrite:
        raise FileExistsError(f"{out} already holds an export; pass --overwrite to replace it "
                              f"(the old one is moved to {ExportFolder(out).replaced}), or --out")


def write_export(run, fmt, out, writer, model, size, pictures, source, wd14, log, int8=None,
                 step=lambda name: None):
    """Write, check and describe the export under a journaled temporary name, then give it
    its final name, moving an earlier export aside; an ExportResult."""
    tmp = writer.temporary(out, ".part")
    tmp.mkdir()
    thresholds, tool_threshold, resize = wd14["thresholds"], wd14["tool_threshold"], wd14["resize"]
    try:
        step("converting")
        written = formats.WRITERS[fmt](model, tmp)
        if int8:
            step("quantising")
        quantized = int8.apply(written) if int8 else {}  # int8: model.onnx is replaced
        limit, kind = (int8.max_diff, " int8") if int8 else (MAX_DIFF, "")
        step("checking against Keras")
        diff = self_check(model, fmt, written, pictures)
        log(f"self-check: {fmt}{kind} export against Keras on {source}: max difference "
            f"{diff:.2e} (limit {limit:g})")
        if not diff < limit:
            raise ValueError(f"the {fmt}{kind} export differs from Keras by {diff:.2e} (more "
                             f"than {limit:g}); it was not written")
        info = export_info(run, fmt, size, diff, source)
        info["self_check"]["limit"] = limit
        info.update(quantized)
        if fmt in formats.FOLDED:
            info.update(channels="BGR", resize=resize, thresholds=thresholds,
                        tool_threshold=tool_threshold if thresholds == "tuned" else None)
        if fmt == "wd14":
            info.update(rating_columns=list(RATING_TAGS))
        if fmt == "cl_tagger":
            info.update(layout="NCHW", scale="x / 127.5 - 1", output="logits")
        step("writing")
        write_side_files(run, fmt, tmp, info)
        replaced = move_aside(out, ExportFolder(out).replaced) if is_export(out) else None
        if out.is_dir():  # an empty folder of the user's (check_out let it through): fill it
            for item in tmp.iterdir():
                os.replace(item, out / item.name)
            tmp.rmdir()
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out, diff, source, replaced)


def export_info(run, fmt, size, diff, source):
    """export.json: how the export was made, and how well it matched Keras."""
    import keras

    info = {"format": fmt, "run": str(run.path.resolve()), "input_size": size,
            "run_image_size": run.image_size, "fit": run.fit, "tags": len(run.tags),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "self_check": {"pictures": source, "max_abs_diff": diff, "limit": MAX_DIFF},
            "keras": keras.__version__, "run_settings": run.settings, "channels": "RGB"}
    return info
