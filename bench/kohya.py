"""tag.py beside kohya-ss sd-scripts' real finetune/tag_images_by_wd14_tagger.py: the same
WD-layout model, the same pictures, every flag pair both tools have; the caption sets
compared picture by picture, and pictures/s of both, start-up included.

kohya's script runs from a checkout of sd-scripts in its own virtual environment, as its
README installs it (torch, then its requirements.txt, plus onnx and onnxruntime); nothing
of it is copied here. One command, with a run trained on the anime faces and folders of
pictures:

  python bench/kohya.py --run runs/anime-faces --pictures data/anime_images \\
      --pictures ../shared/datasets/real-pictures --kohya ../sd-scripts \\
      --kohya-python ../kohya-venv/bin/python --limit 300

It exports the run as wd14 and cl_tagger under --work, relabels the last --characters tags
as characters for kohya's model folders, and writes bench/kohya_results.md (docs/benchmarks.md
says what it measures). Add a flag pair by adding a row to PAIRS.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
UNDESIRED, FIRST = "blue_eyes,red_hair", "blonde_hair,blue_eyes"  # tags of the faces run


@dataclass
class Pair:
    """One flag pair: kohya's flags and tag.py's for the same thing, and the model layout
    each reads ("wd14": every tag general; "chars": the last tags as characters;
    "cl_chars": the cl_tagger layout with those characters)."""
    name: str
    kohya: list
    tag: list
    kohya_model: str = "wd14"
    tag_model: str = "wd14"
    existing: str = None  # a caption written beside every picture first (the append pair)
    needs: list = field(default_factory=list)  # tag.py flags that must exist for the pair
    broken: str = ""  # a kohya bug that makes this pair differ: left out of the goal


T, TT = ["--thresh", "0.35"], ["--threshold", "0.35"]  # kohya's flag, tag.py's
PAIRS = [
    Pair("threshold 0.35", T, TT),
    Pair("threshold 0.6", ["--thresh", "0.6"], ["--threshold", "0.6"]),
    Pair("remove underscore", T + ["--remove_underscore"], TT + ["--remove-underscore"]),
    Pair("undesired tags", T + ["--undesired_tags", UNDESIRED], TT + ["--undesired-tags", UNDESIRED]),
    Pair("always first tags", T + ["--always_first_tags", FIRST], TT + ["--always-first-tags", FIRST]),
    Pair("separator ' | '", T + ["--caption_separator", " | "], TT + ["--separator", " | "]),
    Pair("append", T + ["--append_tags"], TT + ["--append"], existing="my_character, blue_eyes"),
    Pair("threshold 0.35, cl_tagger layout for both", T, TT, "cl", "cl",
         needs=["--general-threshold"]),  # tag.py reads that layout with the category flags
    Pair("general threshold", T + ["--general_threshold", "0.5"],
         TT + ["--general-threshold", "0.5"], needs=["--general-threshold"]),
    Pair("character threshold (cl_tagger)", T + ["--character_threshold", "0.6"],
         TT + ["--character-threshold", "0.6"], "cl_chars", "chars", needs=["--character-threshold"]),
    Pair("character tags first (cl_tagger)", T + ["--character_tags_first"],
         TT + ["--character-tags-first"], "cl_chars", "chars", needs=["--character-tags-first"]),
    Pair("rating first", T + ["--use_rating_tags"], TT + ["--use-rating-tags"],
         needs=["--use-rating-tags"]),
    Pair("rating last", T + ["--use_rating_tags_as_last_tag"], TT + ["--use-rating-tags-as-last-tag"],
         needs=["--use-rating-tags-as-last-tag"]),
    Pair("tag replacement", T + ["--tag_replacement", "blue_eyes,azure_eyes"],
         TT + ["--tag-replacement", "blue_eyes,azure_eyes"], needs=["--tag-replacement"],
         broken="kohya replaces nothing in the WD14 layout"),
    Pair("tag replacement (cl_tagger)", T + ["--tag_replacement", "blue_eyes,azure_eyes"],
         TT + ["--tag-replacement", "blue_eyes,azure_eyes"], "cl_chars", "chars",
         needs=["--tag-replacement"], broken="kohya writes every tag as the last target"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a trained run folder")
    parser.add_argument("--pictures", type=Path, action="append", required=True,
                        help="a folder of pictures (walked recursively); repeat for more")
    parser.add_argument("--limit", type=int, default=300, help="pictures taken from each folder")
    parser.add_argument("--kohya", type=Path, required=True, help="a checkout of sd-scripts")
    parser.add_argument("--kohya-python", type=Path, required=True,
                        help="the python of kohya's virtual environment")
    parser.add_argument("--characters", type=int, default=4,
                        help="the last N dictionary tags become character tags")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_kohya",
                        help="scratch folder: exports, model folders, pictures, captions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "kohya_results.md")
    parser.add_argument("--only", default=None, help="run only the pairs whose name has this")
    parser.add_argument("--repeats", type=int, default=2, help="runs per speed row (the best kept)")
    return parser.parse_args(argv)


def run(cmd, cwd=ROOT, check=True):
    """(seconds, CompletedProcess) of a command, its output captured."""
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(map(str, cmd))}\n"
                         f"{done.stderr[-3000:]}")
    return time.perf_counter() - start, done


def make_models(run_dir, work, n_characters):
    """kohya's model folders under work/models (repo ids local/...): wd14, chars, cl_chars."""
    exports = work / "export"
    for fmt in ("wd14", "cl_tagger"):
        info = exports / fmt / "export.json"
        if not info.is_file() or json.loads(info.read_text())["run"] != str(run_dir.resolve()):
            run([sys.executable, "export.py", "--run", run_dir, "--format", fmt,
                 "--out", exports / fmt, "--quiet", "--overwrite"])
    models = work / "models"
    wd14, chars = models / "local_wd14", models / "local_chars"
    cl = models / "local_cl" / "chars"  # a repo id with a subfolder: the cl_tagger layout
    plain = models / "local_cl" / "plain"  # the export as it is: every tag general
    for folder in (wd14, chars, cl, plain):
        folder.mkdir(parents=True, exist_ok=True)  # then the files, from the two exports:
    for source, target in (("wd14/model.onnx", wd14), ("wd14/model.onnx", chars),
                           ("wd14/selected_tags.csv", wd14), ("cl_tagger/model_optimized.onnx", cl),
                           ("cl_tagger/model_optimized.onnx", plain),
                           ("cl_tagger/tag_mapping.json", plain)):
        shutil.copyfile(exports / source, target / Path(source).name)
    lines = (exports / "wd14" / "selected_tags.csv").read_text(encoding="utf-8").splitlines()
    relabelled = [re.sub(r",0,(\d+)$", r",4,\1", line) for line in lines[-n_characters:]]
    (chars / "selected_tags.csv").write_text("\n".join(lines[:-n_characters] + relabelled) + "\n",
                                             encoding="utf-8")
    mapping = json.loads((exports / "cl_tagger" / "tag_mapping.json").read_text())
    character_names = [line.split(",")[1] for line in relabelled]
    for info in mapping.values():
        if info["tag"] in character_names:
            info["category"] = "Character"
    (cl / "tag_mapping.json").write_text(json.dumps(mapping, indent=2) + "\n")
    return {"wd14": ("local/wd14", wd14), "chars": ("local/chars", chars),
            "cl_chars": ("local/cl/chars", cl), "cl": ("local/cl/plain", plain)}, character_names


def gather(folders, limit):
    """(readable pictures, truncated or unreadable ones): up to `limit` per folder, one per
    file (tag folders hard-link the same picture into several)."""
    good, bad, seen = [], [], set()
    for folder in folders:
        taken = 0
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in EXTENSIONS or not path.is_file() or taken >= limit:
                continue
            key = (path.stat().st_dev, path.stat().st_ino)
            if key in seen:
                continue
            seen.add(key)
            taken += 1
            try:
                with Image.open(path) as img:
                    img.load()
                good.append(path)
            except OSError:
                bad.append(path)
    return good, bad


def lay_out(pictures, folder, existing=None):
    """A fresh flat folder of the pictures (hard links where possible), captions beside."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i, path in enumerate(pictures):
        target = folder / f"{i:05d}_{path.name}"
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
        if existing is not None:
            target.with_suffix(".txt").write_text(existing + "\n", encoding="utf-8")
    return folder


def kohya_cmd(args, models, layout, folder, flags):
    repo_id, _ = models[layout]
    return [args.kohya_python, "finetune/tag_images_by_wd14_tagger.py", folder.resolve(), "--onnx",
            "--repo_id", repo_id, "--model_dir", (args.work / "models").resolve(), *flags]


def tag_cmd(models, layout, folder, flags, workers=None):
    return [sys.executable, "tag.py", folder.resolve(), "--run", models[layout][1].resolve(),
            "--quiet", "--table-rows", "0", *flags,
            *(["--workers", str(workers)] if workers is not None else [])]


def captions(folder, separator=", "):
    """{picture name: set of tags} of the captions in a folder."""
    strip = separator.strip()
    return {p.stem: {t.strip() for t in p.read_text(encoding="utf-8").split(strip) if t.strip()}
            for p in folder.glob("*.txt")}


def failure(done):
    """The last line of a traceback, or None for a run that succeeded."""
    last = ([line for line in done.stderr.splitlines() if line.strip()] or ["exit status"])[-1]
    return last[:200] if done.returncode else None


def compare(args, models, pictures, pair, tag_help):
    """One row of the comparison: same sets, of how many, and what failed."""
    missing = [flag for flag in pair.needs if flag not in tag_help]
    if missing:
        return {"pair": pair.name, "note": f"tag.py has no {', '.join(missing)} on this branch"}
    base = args.work / "pairs" / re.sub(r"\W+", "_", pair.name)
    kohya_dir = lay_out(pictures, base / "kohya", pair.existing)
    tag_dir = lay_out(pictures, base / "tag", pair.existing)
    _, kohya_done = run(kohya_cmd(args, models, pair.kohya_model, kohya_dir,
                                  pair.kohya + ["--batch_size", "16"]), args.kohya, check=False)
    _, tag_done = run(tag_cmd(models, pair.tag_model, tag_dir, pair.tag), check=False)
    sep = dict(zip(pair.tag, pair.tag[1:])).get("--separator", ", ")
    theirs, ours = captions(kohya_dir, sep), captions(tag_dir, sep)
    same = sum(theirs.get(name) == tags for name, tags in ours.items())
    differ = sorted(name for name, tags in ours.items() if theirs.get(name) != tags)
    example = (f"{differ[0]}: kohya {sorted(theirs.get(differ[0], []))} tag.py "
               f"{sorted(ours[differ[0]])}" if differ else "")
    return {"pair": pair.name, "kohya": " ".join(pair.kohya), "tag": " ".join(pair.tag),
            "same": same, "of": len(pictures), "kohya_failed": failure(kohya_done),
            "tag_failed": failure(tag_done), "example": example, "broken": pair.broken}


def speed(args, models, pictures):
    """Pictures/s, start-up included: kohya's defaults, tag.py on one worker and on all."""
    rows = []
    for name, cmd in [
            ("kohya's script, its defaults (--onnx --thresh 0.35, batch 1, no loader workers)",
             lambda d: (kohya_cmd(args, models, "wd14", d, T), args.kohya)),
            ("kohya's script, --batch_size 16 --max_data_loader_n_workers 2",
             lambda d: (kohya_cmd(args, models, "wd14", d, T + ["--batch_size", "16",
                                                                "--max_data_loader_n_workers", "2"]),
                        args.kohya)),
            ("tag.py --workers 1", lambda d: (tag_cmd(models, "wd14", d, TT, 1), ROOT)),
            (f"tag.py on all cores (--workers {len(os.sched_getaffinity(0))})",
             lambda d: (tag_cmd(models, "wd14", d, TT), ROOT))]:
        best, loads = None, []
        for _ in range(args.repeats):  # the fastest of a few: other jobs only slow it down
            folder = lay_out(pictures, args.work / "speed" / re.sub(r"\W+", "_", name)[:40])
            loads.append(os.getloadavg()[0])
            seconds, done = run(*cmd(folder), check=False)
            best = min(best or seconds, seconds)
        rows.append({"what": name, "seconds": best, "per_s": len(pictures) / best,
                     "load": max(loads), "failed": failure(done)})
    return rows


def layouts_agree(args, models, pictures):
    """kohya on the run's cl_tagger export against kohya on its wd14 export: same sets."""
    sets = {}
    for layout in ("wd14", "cl"):
        folder = lay_out(pictures, args.work / "layouts" / layout)
        run(kohya_cmd(args, models, layout, folder, T + ["--batch_size", "16"]), args.kohya)
        sets[layout] = captions(folder)
    return sum(sets["cl"].get(name) == tags for name, tags in sets["wd14"].items())


def truncated_copy(pictures, work):
    """A JPEG of the pictures cut in half, as a download that stopped early leaves it."""
    source = next(p for p in pictures if p.suffix.lower() in (".jpg", ".jpeg"))
    (work / "fail").mkdir(parents=True, exist_ok=True)
    data, cut = source.read_bytes(), work / "fail" / f"truncated_{source.name}"
    cut.write_bytes(data[:len(data) // 2])
    return cut


def replacement(args, models, pictures):
    """What kohya's --tag_replacement blue_eyes,azure_eyes writes in each layout."""
    found = {}
    for layout in ("wd14", "cl_chars"):
        folder = lay_out(pictures, args.work / "fail" / f"replace_{layout}")
        run(kohya_cmd(args, models, layout, folder,
                      T + ["--tag_replacement", "blue_eyes,azure_eyes"]), args.kohya)
        written = [tag for tags in captions(folder).values() for tag in tags]
        found[f"--tag_replacement blue_eyes,azure_eyes, {layout} layout"] = (
            f"{len(pictures)} pictures",
            f"wrote {written.count('azure_eyes')} azure_eyes and {written.count('blue_eyes')} "
            f"blue_eyes among {len(written)} tags ({len(set(written))} distinct)",
            "(no --tag-replacement on this branch)")
    return found


def reproduce_failures(args, models, pictures, bad):
    """kohya on a truncated picture, on the WD layout with character tags, and with
    --tag_replacement in both layouts."""
    found = replacement(args, models, pictures[:60])
    bad = bad or [truncated_copy(pictures, args.work)]
    four = pictures[:3] + bad[:1]
    folder = lay_out(four, args.work / "fail" / "truncated_kohya")
    _, done = run(kohya_cmd(args, models, "wd14", folder, T), args.kohya, check=False)
    folder = lay_out(four, args.work / "fail" / "truncated_tag")
    _, ours = run(tag_cmd(models, "wd14", folder, TT), check=False)
    found["truncated picture"] = (f"{bad[0].name} among 3 others", failure(done),
                                  failure(ours) or ours.stdout.strip().splitlines()[-1])
    folder = lay_out(pictures, args.work / "fail" / "characters")
    _, done = run(kohya_cmd(args, models, "chars", folder, ["--thresh", "0.05"]), args.kohya,
                  check=False)
    _, ours = run(tag_cmd(models, "chars", folder, ["--threshold", "0.05"]), check=False)
    found["character tags in the WD14 layout"] = ("threshold 0.05", failure(done),
                                                  failure(ours) or "captioned")
    return found


def goals(rows, speeds, load):
    """The issue's two goals, met or missed."""
    compared = [r for r in rows if "note" not in r and not r["broken"]]
    worst = min((r["same"] / r["of"] for r in compared), default=float("nan"))
    fastest = max((s["per_s"] for s in speeds if s["what"].startswith("tag.py")), default=0)
    ratio = fastest / speeds[0]["per_s"] if speeds else float("nan")
    return ["## The goals", "",
            f"- the same captions on >= 99% of pictures: {'met' if worst >= 0.99 else 'missed'} "
            f"on the {len(compared)} pairs run (the lowest: {100 * worst:.1f}%), kohya's "
            f"broken --tag_replacement aside; {sum('note' in r for r in rows)} pairs wait for "
            f"tag.py flags (see below);",
            f"- tag.py >= 3x kohya's pictures/s: {'met' if ratio >= 3 else 'missed'} "
            f"({ratio:.1f}x at best{'' if idle(load) else ', on a busy machine'}).",
            ""]


def idle(load):
    """Nothing else was running when the bench started (it is the only load after that)."""
    return load < 1.0


def machine_line(load):
    if idle(load):
        return (f"The machine was idle when the bench started (load average {load:.2f}); the "
                f"load averages beside the speeds are the bench's own earlier runs.")
    return (f"The machine was busy: load average {load:.2f} when the bench started (other jobs "
            f"shared its cores), so the speeds below are noise; rerun it on an idle machine "
            f"with the command in bench/kohya.py's docstring.")


def report(args, n, bad, characters, rows, speeds, failures, agree):
    """bench/kohya_results.md."""
    commit = (args.kohya / "COMMIT").read_text().strip() if (args.kohya / "COMMIT").is_file() \
        else run(["git", "rev-parse", "HEAD"], args.kohya, check=False)[1].stdout.strip()
    versions = run([args.kohya_python, "-c", "import sys, torch, onnxruntime; print(sys.version"
                    ".split()[0], torch.__version__, onnxruntime.__version__)"], check=False)[1]
    python, torch, ort = (versions.stdout.split() + ["?"] * 3)[:3]
    lines = ["# tag.py beside kohya-ss sd-scripts' tag_images_by_wd14_tagger.py", "",
             f"Made by `python bench/kohya.py` (docs/benchmarks.md) on {time.strftime('%Y-%m-%d')}"
             f", sd-scripts at {commit or 'an unknown commit'} in its own environment (Python "
             f"{python}, torch {torch}, onnxruntime {ort}; tag.py: onnxruntime "
             f"{metadata.version('onnxruntime')}), {n} pictures "
             f"({len(bad) or 'none'} left out as unreadable), {len(os.sched_getaffinity(0))} "
             f"cores. The model: the run's wd14 export; for the character pairs its last "
             f"{len(characters)} tags ({', '.join(characters)}) relabelled as characters.", "",
             machine_line(args.start_load), "",
             "## The same caption sets, flag pair by flag pair", "",
             "| pair | kohya | tag.py | same sets | kohya failed | tag.py failed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if "note" in r:
            lines.append(f"| {r['pair']} | | | {r['note']} | | |")
            continue
        r = {k: v.replace("|", "\\|") if isinstance(v, str) else v for k, v in r.items()}
        lines.append(f"| {r['pair']} | `{r['kohya']}` | `{r['tag']}` | {r['same']} of {r['of']} "
                     f"({100 * r['same'] / r['of']:.1f}%) | {r['kohya_failed'] or r['broken']} | "
                     f"{r['tag_failed'] or ''} |")
    lines += ["", "First difference of each pair, where there is one:", ""]
    lines += [f"- {r['pair']}: {r['example']}" for r in rows if r.get("example")] or ["- none"]
    lines += ["", "## Pictures per second, start-up included", "",
              f"Each row is the fastest of {args.repeats} runs, each on a fresh folder of the "
              f"same {n} pictures; the load average is the highest at the start of its runs.", "",
              "| what | seconds | pictures/s | against kohya's default | load average |",
              "|---|---|---|---|---|"]
    lines += [f"| {s['what']} | {s['seconds']:.1f} | {s['per_s']:.1f} | "
              f"{s['per_s'] / speeds[0]['per_s']:.1f}x | {s['load']:.2f} |"
              + (f" failed: {s['failed']}" if s["failed"] else "") for s in speeds]
    lines[6:6] = goals(rows, speeds, args.start_load)
    lines += ["", f"kohya's script on the run's cl_tagger export (`export.py --format cl_tagger`, "
              f"as a repo id with a subfolder) against the same script on its wd14 export: "
              f"the same tag sets on {agree} of {n} pictures."]
    lines += ["", "## kohya's failures", ""]
    lines += [f"- {what} ({detail}): kohya: {theirs or 'ran'}; tag.py: {ours}"
              for what, (detail, theirs, ours) in failures.items()]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None):
    args = parse_args(argv)
    args.start_load = os.getloadavg()[0]
    args.work.mkdir(parents=True, exist_ok=True)
    models, characters = make_models(args.run, args.work, args.characters)
    pictures, bad = gather(args.pictures, args.limit)
    print(f"{len(pictures)} pictures, {len(bad)} unreadable; load average {os.getloadavg()}")
    tag_help = run([sys.executable, "tag.py", "--help"])[1].stdout
    rows = []
    for pair in [p for p in PAIRS if not args.only or args.only in p.name]:
        rows.append(compare(args, models, pictures, pair, tag_help))
        print(rows[-1])
    speeds = speed(args, models, pictures) if not args.only else []
    for row in speeds:
        print(row)
    failures = reproduce_failures(args, models, pictures, bad) if not args.only else {}
    print(failures)
    agree = layouts_agree(args, models, pictures) if not args.only else 0
    print(f"kohya, cl_tagger export against wd14 export: {agree} of {len(pictures)} the same")
    report(args, len(pictures), bad, characters, rows, speeds, failures, agree)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
