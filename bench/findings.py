"""The prose of results.md: what each row measured, and why a missed goal was missed."""
import os
import time

LATENCY_MS = 50


def notes(b, d):
    """One line per stage on what was run, on what input, and how busy the machine was."""
    s, out = b.sizes, []
    if "raw" in d.get("download", {}):
        dl = d["download"]
        raw = ", ".join(f"{dl['raw'][t]:,.0f}/s at {t}" for t in dl["raw"])
        cpu = ", ".join(f"{1000 * c:.2f} ms at --workers {w}" for w, c in dl["cpu"].items())
        out.append(
            f"**download**: a ThreadingHTTPServer in its own process on 127.0.0.1 sleeps "
            f"{LATENCY_MS} ms before each 150x150 JPEG (~7 KB). The original: "
            f"`urllib.request.urlretrieve`, one file at a time, {s['download_original']} "
            f"thumbnails; download.py: `--limit 0`, {s['download_project']:,} thumbnails. Raw "
            f"http.client threads (keep-alive, body read and dropped) got {raw} connections. "
            f"download.py's CPU per thumbnail: {cpu}.")
    if "cpu" in d.get("set_dic", {}):
        sd = d["set_dic"]
        out.append(
            f"**set_dic**: a generated Safebooru-like CSV (~25 tags a row, 1girl on 60% of "
            f"rows, 1/rank tail over 300,000 distinct tags, ~575 bytes a row). The original: "
            f"`list(csv.reader(f))`, then `if tag in dic: dic[tag] += 1` over every row; "
            f"set_dic.py as a user runs it. Both keep tags on more than 6% of rows (the "
            f"original's 120,000 at two million rows, set_dic.py's default) and pick the same "
            f"ones: {sd['same_tags']}. CPU per "
            f"row: original {sd['cpu']['original']:.1f} us, set_dic.py {sd['cpu']['project']:.1f} us.")
    if "cpu" in d.get("deal", {}):
        dl = d["deal"]
        out.append(
            f"**deal**: {s['images']:,} thumbnails with ~10 of the original's 38 dictionary tags "
            f"each (~10 folders per image). The original: one process, open, `resize((100, "
            f"100))` once, `save` one JPEG per tag folder (the kind reading: an original that "
            f"reopened the image for every tag was slower still); deal.py: `--limit 0`, default "
            f"`--fit pad`, one JPEG and a hard link per tag. CPU per image: original "
            f"{dl['cpu']['original']:.2f} ms, deal.py --workers 1 {dl['cpu']['one']:.2f} ms.")
    if "entries" in d.get("check", {}):
        out.append(
            f"**check**: each run on its own hard-linked copy of deal.py's output "
            f"({d['check']['entries']:,} entries). The original: `Image.open(p).verify()` per "
            f"entry, one process (it deleted failures; this copy only counts them); check.py "
            f"fully decodes each picture once, hashes it for duplicates, caps folders. No goal.")
    out += _model_notes(b, d)
    busy = ", ".join(f"{k} {v['others']:.1f}" for k, v in d.items() if "others" in v)
    out.append(f"Cores used by other processes on the machine during each stage: {busy}.")
    return out


def _model_notes(b, d):
    """What the train and inference rows measured."""
    s, out = b.sizes, []
    if "first" in d.get("train", {}):
        tr = d["train"]
        layers = ", ".join(f"{name} {f / 1e6:.0f}" for name, f in tr["flops"]["layers"])
        out.append(
            f"**train**: seed_cnn, bce, Adam, train.py's metrics, {s['train_images']} images "
            f"from deal.py's output, one warm-up epoch then {b.repeats} timed (median). "
            f"Pipeline: `load_examples` + `make_dataset(training=True, flip, 10% shifts, cache)` + "
            f"train.py's training loop (`tagger.train.loop.Loop`); ceiling: the same loop fed a "
            f"float32 array. First epoch "
            f"(tracing; the pipeline also decodes and caches): pipeline "
            f"{tr['first']['pipeline']:,.0f} images/s, in memory {tr['first']['memory']:,.0f}. "
            f"Forward MFLOP per image: {layers} = {tr['flops']['forward'] / 1e6:.0f}; training "
            f"counted as 3x = {tr['per_image'] / 1e9:.2f} GFLOP per image. Peak: {tr['how']}.")
    out.append(
        f"**inference**: untrained seed_cnn (speed does not depend on the weights), "
        f"{s['infer_batched']} thumbnails through `prepare_batches` + `Run.predict` in batches "
        f"of 256 (test.py --csv), against {s['infer_single']} through PIL resize and one "
        f"`model.predict` per image; one warm-up pass, then the median of {b.repeats}.")
    return out


def _data_texts(d):
    """Explanations for the download and set_dic goals, from what this run measured."""
    dl, sd = d.get("download", {}), d.get("set_dic", {})
    return {
        "download-32": lambda: (
            f"download at `--workers 32` (the default for a server on this machine): with 32 "
            f"requests in flight and "
            f"{LATENCY_MS} ms each no client can pass 32 / 0.05 s = 640 thumbnails/s "
            f"({640 / dl['original']:.0f}x the original); download.py reached "
            f"{dl['project'][32]:,.0f}/s. Next step: more `--workers` where the server allows "
            f"it (the 128-worker row)."),
        "download-128": lambda: (
            f"download at `--workers 128`: {dl['project'][128]:,.0f}/s, limited by CPU: "
            f"{1000 * dl['cpu'][128]:.2f} ms per thumbnail in one process (one GIL)."),
        "download-capacity": lambda: (
            f"download vs the server: download.py spends {1000 * dl['cpu'][128]:.2f} ms of CPU "
            f"per thumbnail at --workers 128 in one Python process, so it cannot pass "
            f"~{1 / dl['cpu'][128]:,.0f}/s on one core, while the raw client, which neither "
            f"checks nor saves what it reads, needs ~0.1 ms; the server's own threads share "
            f"the same {os.cpu_count()} cores. Measured while writing the benchmark (one thread, "
            f"no latency): urllib3's request and response ~0.45 ms, most of it in the "
            f"socket calls; the atomic write (temporary file, rename) ~0.15 ms; the "
            f"truncation check a few microseconds (it replaced a full decode, ~0.2 ms; "
            f"requests' own overhead was ~0.35 ms then). With 64 threads or "
            f"more, switching the GIL between them adds ~0.2-0.4 ms. Next step: several "
            f"processes, each with its own threads, on machines with more cores than the "
            f"server needs; on this 2-core machine they would compete with the server."),
        "set_dic": lambda: (
            f"set_dic: {sd['cpu']['project']:.1f} us of CPU per row (its --workers processes "
            f"together) against the original's {sd['cpu']['original']:.1f}. Both are bound by "
            f"the same thing, one dict update per tag (~0.2 us a tag: ~25 tags a row into a "
            f"Counter of 300,000 keys that does not fit in cache); profiled while writing "
            f"the benchmark, a worker spends about half its time in that update, the rest "
            f"parsing rows, skipping repeated ids and de-duplicating each row's tags. "
            f"set_dic.py counts byte ranges of the CSV in parallel and adds the Counters, so "
            f"its speed grows with cores; on {os.cpu_count()} cores 3x would need "
            f"{os.cpu_count() * sd['cpu']['original'] / 3:.1f} us of CPU per row, of which "
            f"the dict update alone is about 5. Next step: a leaner counting path that skips "
            f"building a post per row, and more cores."),
        "set_dic-memory": lambda: (
            "set_dic's peak memory grew with the rows. What set_dic.py keeps is the Counter "
            "of distinct tags (it grows with the vocabulary seen, not the rows), the list "
            "of bad rows and the id bitmap; look for a per-row object that is kept."),
    }


def _later_texts(d, b):
    """Explanations for the deal, train and inference goals."""
    de, tr = d.get("deal", {}), d.get("train", {})
    return {
        "deal-1": lambda: (
            f"deal on one core: {de['cpu']['one']:.2f} ms of CPU per image against the "
            f"original's {de['cpu']['original']:.2f}. Profiled while writing the benchmark "
            f"(150x150 JPEGs, one process): decoding ~0.24 ms and the bicubic resize to "
            f"100x100 ~0.20 ms, which both must do; one JPEG encode and write ~0.15-0.18 ms, "
            f"which the original repeats for every tag (~10 times) and deal.py does once; a "
            f"hard link per further tag ~0.016 ms. The shared decode and resize put 3x out of "
            f"reach on thumbnails this small: deal.py would have to finish in "
            f"{de['cpu']['original'] / 3:.2f} ms what takes ~0.45 ms before anything is "
            f"saved. Next step: none that keeps the "
            f"resize's quality; the gain that is left is in using every core (next row)."),
        "deal-all": lambda: (
            f"deal on all {b.cores} cores reached {de['scaling']:.2f}x its 1-core rate while "
            f"other processes kept {de['others']:.1f} cores busy"
            + (", so its workers shared what was left; rerun on an idle machine to see the "
               "scaling." if de["others"] >= 0.5 else
               ". The pool's start-up and the parent's own work (planning, labels.csv, the "
               "progress bar) weigh more on small runs; measure with more images.")),
        "train": lambda: (
            f"train: the pipeline reached {tr['ratio']:.2f} of the in-memory rate while other "
            f"processes kept {tr['others']:.1f} cores busy. tf.data's parallel map, shuffle "
            f"and prefetch threads compete with the model's own threads on {b.cores} cores. "
            f"Next step: time single steps (a Keras batch callback) to separate waiting for "
            f"input from compute, and try a fixed small `num_parallel_calls` in "
            f"tagger/dataset.py on machines with few cores."),
        "inference": lambda: "inference: batched prediction was not 5x one-by-one.",
    }


def _why(key, d, b):
    """Why a goal was missed and what to do next."""
    texts = {**_data_texts(d), **_later_texts(d, b)}
    return texts.get(key, lambda: f"{key}: missed")()


def missed(rows, b, d):
    """A paragraph per missed goal."""
    out = []
    for row in rows:
        if row.met is False:
            try:
                out.append(_why(row.key, d, b))
            except (KeyError, ZeroDivisionError) as exc:
                out.append(f"{row.stage}: missed ({exc!r} while explaining)")
    return out


def footer(args, b, d, seconds, others):
    """How the run was made and how long it took."""
    stage_times = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in d.items())
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return [f"Run with `python bench/run.py{' --quick' if args.quick else ''}` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}, {b.repeats} repeats per timing "
            f"(interleaved: original, project, original, ...; medians reported).",
            f"Stage times: {stage_times}. Load average at the end: "
            f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}.",
            f"Total wall time {seconds / 60:.1f} min; other processes used {others:.1f} of "
            f"{b.cores} cores on average meanwhile."]
