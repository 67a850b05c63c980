"""int8 (and fp16) exports against fp32: quality on the run's held-out split, size, and speed.

Exports a trained run with export.py as onnx and wd14, in float32 and with --quantize int8,
and converts the fp32 onnx export to float16 (onnxconverter-common, when it is installed).
On the run's test split (its validation split if it has none), decoded as test.py decodes it,
it measures each variant's mAP, the share of pictures whose caption (the run's tuned
thresholds) is the same as fp32's, the tag decisions that change and the largest score
difference; then the size of model.onnx and the pictures/s of the network alone at batch 64
(the pictures prepared beforehand), with the load average beside it, and of the run's Keras
model in float32 and under mixed_bfloat16 for comparison. With --resnet100 it also times the
default network (resnet, 100 px, 38 tags, untrained: speed does not depend on the weights)
the same way. Writes bench/quantize_results.md.

Examples:
  python bench/quantize.py --run runs/tagger
  python bench/quantize.py --run runs/faces --data-dir data/faces --resnet100
"""
import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

BATCH = 64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a trained run folder")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="its data folder (default: the one in the run's args.json)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "quantize",
                        help="folder for the exports (default: %(default)s)")
    parser.add_argument("--calibration", type=int, default=256,
                        help="export.py --calibration (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=0,
                        help="held-out pictures to score; 0 = all (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=8,
                        help="batches of 64 per timing (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="timings of each variant, taking turns; the best counts "
                             "(default: %(default)s)")
    parser.add_argument("--resnet100", action="store_true",
                        help="also time the default resnet at 100 px (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "quantize_results.md",
                        help="results file (default: %(default)s)")
    return parser.parse_args(argv)


def make_exports(run, work, calibration):
    """{variant: export folder}: onnx and wd14 in fp32 and int8, and fp16 onnx if it can."""
    import export

    folders = {}
    for fmt in ("onnx", "wd14"):
        for kind, flags in (("fp32", []), ("int8", ["--quantize", "int8", "--calibration",
                                                    str(calibration)])):
            folders[f"{fmt} {kind}"] = out = work / f"{fmt}_{kind}"
            export.main(["--run", str(run), "--format", fmt, "--out", str(out),
                         "--overwrite", *flags])
    fp16 = float16_copy(folders["onnx fp32"], work / "onnx_fp16")
    if fp16:
        folders["onnx fp16"] = fp16
    return folders


def float16_copy(folder, out):
    """A copy of an fp32 export with model.onnx in float16 (inputs and outputs kept float32),
    or None without onnxconverter-common."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError:
        print("onnxconverter-common is not installed: no fp16 variant "
              "(pip install onnxconverter-common)")
        return None
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(folder, out)
    model = float16.convert_float_to_float16(onnx.load(out / "model.onnx"), keep_io_types=True)
    onnx.save(model, out / "model.onnx")
    return out


def held_out(tagger, data_dir, limit):
    """The pictures test.py scores the tagger on (its run's test split, else val)."""
    from tagger.core.folders import DataFolder
    from tagger.infer import heldout

    split = heldout.split_of(tagger, tagger.path)
    data = DataFolder(data_dir) if data_dir else heldout.data_folder(tagger, None)
    return heldout.held_out_split(tagger, split, data, "auto", limit)


def scores_of(tagger, paths, chunk=256):
    """(n, tags) scores of the pictures, decoded as test.py decodes them."""
    from tagger.core.images import prepare

    out = []
    for start in range(0, len(paths), chunk):
        pictures = np.stack([prepare(p, tagger.image_size, tagger.fit)
                             for p in paths[start:start + chunk]])
        out.append(tagger.predict(pictures, BATCH))
    return np.concatenate(out)


def quality(folders, data_dir, limit):
    """{variant: figures} on the held-out split, each against the fp32 export of its format."""
    from tagger.infer.onnx_run import open_onnx
    from tagger.train.metrics import mean_average_precision

    found, reference, held = {}, {}, None
    for name, folder in folders.items():
        tagger = open_onnx(folder)
        held = held or held_out(tagger, data_dir, limit)
        scores = scores_of(tagger, held.paths)
        chosen = scores >= tagger.thresholds
        base = reference.setdefault(name.split()[0], (scores, chosen))
        found[name] = dict(map=mean_average_precision(held.labels, scores),
                           same=float(np.mean(np.all(chosen == base[1], axis=1))),
                           changed=int(np.sum(chosen != base[1])), decisions=chosen.size,
                           max_diff=float(np.abs(scores - base[0]).max()),
                           bytes=os.path.getsize(folder / "model.onnx"),
                           pictures=len(held.paths), which=held.which)
        print(f"{name}: mAP {found[name]['map']:.4f}, same caption {found[name]['same']:.1%}")
    return found


def onnx_call(model_file, pictures):
    """A call of onnxruntime's session alone (opened as tag.py opens it) on one batch."""
    from tagger.infer.onnx_run import onnx_session

    session = onnx_session(model_file)
    name = session.get_inputs()[0].name
    batch = np.ascontiguousarray(pictures[:BATCH].astype(np.float32))
    return lambda: session.run(None, {name: batch})


def export_calls(folders):
    """{variant: call} on generated pictures of each export's input size (the content does
    not change the work)."""
    from tagger.infer.onnx_run import open_onnx

    rng = np.random.default_rng(0)
    found = {}
    for name, folder in folders.items():
        size = open_onnx(folder).image_size
        pictures = rng.integers(0, 256, (BATCH, size, size, 3), dtype=np.uint8)
        found[name] = onnx_call(folder / "model.onnx", pictures)
    return found


def resnet100_calls(work):
    """{variant: call} of the default network (untrained) in fp32, int8 and fp16."""
    from bench.backends import SIZE, make_run
    from tagger.export.build import export_run
    from tagger.export.quantize import Int8Plan, quantize_file

    run = make_run(work / "resnet100")
    fp32 = export_run(run, "onnx", work / "resnet100_fp32", overwrite=True, log=lambda m: None).out
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (BATCH, SIZE, SIZE, 3), dtype=np.uint8)
    int8 = work / "resnet100_int8"
    shutil.rmtree(int8, ignore_errors=True)
    shutil.copytree(fp32, int8)
    quantize_file(int8 / "model.onnx", Int8Plan(pictures, bgr=False))  # generated calibration
    folders = {"resnet 100 px fp32": fp32, "resnet 100 px int8": int8}
    fp16 = float16_copy(fp32, work / "resnet100_fp16")
    if fp16:
        folders["resnet 100 px fp16"] = fp16
    return {name: onnx_call(folder / "model.onnx", pictures) for name, folder in folders.items()}


def keras_calls(run):
    """{variant: call} of the run's Keras model through tf.function (tag.py's Keras path) in
    float32 and under Keras's mixed_bfloat16 policy (oneDNN's bf16, AMX where the CPU has
    it), for comparison with the exports."""
    import keras
    import tensorflow as tf

    from tagger.infer.keras_run import load_run
    from tagger.train.model import build_model

    loaded = load_run(run)
    size, model = loaded.image_size, loaded.model
    batch = np.random.default_rng(0).integers(0, 256, (BATCH, size, size, 3)).astype(np.float32)
    found = {}
    for policy in ("float32", "mixed_bfloat16"):
        if policy != "float32":
            keras.mixed_precision.set_global_policy(policy)
            twin = build_model(loaded.settings.get("model", "resnet"), size, len(loaded.tags),
                               loaded.settings.get("loss", "bce"))
            twin.set_weights(model.get_weights())
            model = twin
        forward = tf.function(lambda x, m=model: m(x, training=False))
        found[f"Keras {policy}"] = lambda f=forward: f(batch)
    keras.mixed_precision.set_global_policy("float32")
    return found


def race(calls, n_calls, rounds):
    """{variant: pictures/s}: the best of `rounds` timings of `n_calls` calls each, the
    variants taking turns in every round, so a change in the machine's load falls on all."""
    for call in calls.values():
        call()  # warm-up
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(n_calls):
                call()
            best[name] = min(best[name], (time.perf_counter() - start) / n_calls)
    return {name: BATCH / seconds for name, seconds in best.items()}


def write(out, run, found, rates, loads, others, rounds):
    """The two tables, the load on the machine, and the machine."""
    from tagger.core.folders import RunFolder

    first, settings = next(iter(found.values())), RunFolder(run).settings
    about = f"{settings.get('model', '?')} at {settings.get('image_size', '?')} px"
    lines = ["# int8 and fp16 exports against fp32", "",
             "Made by `python bench/quantize.py --run RUN --resnet100`.", "",
             f"Run `{run.name}` ({about}): {first['pictures']:,} held-out pictures "
             f"({first['which']} split), "
             f"decoded as test.py decodes them; captions by the run's tuned thresholds; each "
             f"variant against the fp32 export of its format.", "",
             "| export | mAP | mAP - fp32 | same caption | tag decisions changed | "
             "max score difference | model.onnx |", "|---|---|---|---|---|---|---|"]
    for name, f in found.items():
        base = found[name.split()[0] + " fp32"]["map"]
        lines.append(f"| {name} | {f['map']:.4f} | {f['map'] - base:+.4f} | {f['same']:.1%} | "
                     f"{f['changed']:,} of {f['decisions']:,} | {f['max_diff']:.3f} | "
                     f"{f['bytes'] / 1e6:.2f} MB |")
    lines += ["", f"The network alone (onnxruntime on the CPU, as tag.py opens it; the Keras rows "
              f"through tf.function, tag.py's Keras path), batch {BATCH}, best of {rounds} "
              f"rounds in which the variants take turns, after a warm-up; each row against "
              f"the fp32 export of its network (the Keras rows against onnx fp32):", "",
              "| network | pictures/s | vs fp32 |", "|---|---|---|"]
    for name, value in rates.items():
        base = rates.get(name.rsplit(" ", 1)[0] + " fp32", rates["onnx fp32"])
        lines.append(f"| {name} | {value:,.0f} | {value / base:.2f}x |")
    lines += ["", f"Load average (1 min) {loads[0]:.2f} at the start, {loads[1]:.2f} at the end; "
              f"other processes used {others:.1f} cores on average meanwhile: "
              + ("an idle machine." if others < 0.2 else "a shared machine, whose speeds "
                 "are noise."), ""] + [f"- {line}" for line in machine.describe()]
    out.write_text("\n".join(lines) + "\n")
    return lines


def main(argv=None):
    args = parse_args(argv)
    meter, start_load = machine.LoadMeter(), os.getloadavg()[0]
    args.work.mkdir(parents=True, exist_ok=True)
    folders = make_exports(args.run, args.work, args.calibration)
    found = quality(folders, args.data_dir, args.limit)
    calls = {**export_calls(folders), **keras_calls(args.run),
             **(resnet100_calls(args.work) if args.resnet100 else {})}
    rates = race(calls, args.calls, args.rounds)
    for name, value in rates.items():
        print(f"{name}: {value:,.0f} pictures/s at batch {BATCH}")
    write(args.out, args.run, found, rates, (start_load, os.getloadavg()[0]), meter.others(),
          args.rounds)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
