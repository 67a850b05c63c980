"""The data stages against the original's way: download, set_dic, deal and check."""
import contextlib
import os
import shutil
import subprocess
import sys

from bench import inputs
from bench.measure import ROOT, interleaved, median, peak, rate
from bench.report import Memory, Row, per_second, times

LATENCY = 0.05  # seconds the server waits before every response


def fresh(path):
    """An empty folder at `path` (whatever was there is the benchmark's own and goes)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def memory_entry(what, samples):
    top = max(samples, key=lambda s: s.peak_mb)
    return Memory(what, top.peak_mb, top.call_cpu, top.seconds)


@contextlib.contextmanager
def latency_server(folder, latency=LATENCY):
    """bench/server.py in its own process; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", str(folder), "--latency",
                             str(latency)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.terminate()
        proc.wait()


def _download_makers(b, csvs, workers, threads):
    """name -> function(round) running one download measurement in a fresh folder."""
    folder = b.work / "download"

    def original(k):
        return b.run(f"download-original-{k}", "bench.original", "download",
                     {"csv_path": str(csvs["original"]), "out": str(fresh(folder / "orig"))})

    def project(n):
        return lambda k: b.run(f"download-project-{n}-{k}", "download", "main", [
            "--data-dir", str(fresh(folder / "proj")), "--csv", str(csvs["project"]),
            "--limit", "0", "--workers", str(n)])

    def raw(n):
        return lambda k: b.run(f"download-raw-{n}-{k}", "bench.rawclient", "fetch_csv",
                               {"csv_path": str(csvs["project"]), "threads": n})

    makers = {"original": original}
    makers.update({f"project {n}": project(n) for n in workers})
    makers.update({f"raw {n}": raw(n) for n in threads})
    return makers


def download_stage(b, thumbnails):
    """Thumbnails per second at 50 ms latency, and as a fraction of the server's capacity."""
    sizes, workers, threads = b.sizes, (32, 128), (32, 128, 256)
    with latency_server(thumbnails) as url:
        csvs = {}
        for who in ("original", "project"):
            csvs[who] = b.work / f"download_{who}.csv"
            inputs.write_posts_csv(csvs[who], range(1, sizes[f"download_{who}"] + 1),
                                   lambda i: f"{url}/thumbnails/{i}.jpg", lambda i: ["1girl"])
        s = interleaved(_download_makers(b, csvs, workers, threads), b.repeats)
    shutil.rmtree(b.work / "download", ignore_errors=True)
    n = sizes["download_project"]
    orig = rate(s["original"])
    proj = {w: rate(s[f"project {w}"], n) for w in workers}
    raw = {t: rate(s[f"raw {t}"]) for t in threads}
    capacity, best = max(raw.values()), max(workers, key=proj.get)
    rows = [Row(f"download, {LATENCY * 1000:.0f} ms latency (`--workers {w}`"
                f"{', the default on this machine' if w == 32 else ''})",
                per_second(orig, "thumbnails"), per_second(proj[w], "thumbnails"),
                times(proj[w] / orig), ">= 20x", proj[w] / orig >= 20, f"download-{w}")
            for w in workers]
    rows.append(Row("download vs the server's capacity",
                    f"server: {per_second(capacity, 'responses')} (the best raw http.client "
                    f"rate, at {max(raw, key=raw.get)} connections)",
                    f"{per_second(proj[best], 'thumbnails')} (`--workers {best}`)",
                    f"{proj[best] / capacity:.0%}", ">= 80%", proj[best] / capacity >= 0.8,
                    "download-capacity"))
    memory = [memory_entry("download: original (urllib)", s["original"])]
    memory += [memory_entry(f"download: download.py --workers {w}", s[f"project {w}"])
               for w in workers]
    cpu = {w: median([x.call_cpu for x in s[f"project {w}"]]) / n for w in workers}
    detail = {"raw": raw, "project": proj, "original": orig, "cpu": cpu}
    return rows, memory, detail


def set_dic_stage(b, big_csv, small_csv):
    """Rows per second over the big CSV; peak memory at two lengths."""
    # The original's threshold, 120,000 posts, is 6% of two million rows: kept in proportion.
    min_count = round(120_000 * b.sizes["csv_rows"] / 2_000_000)

    def original(csv_path, tag):
        return lambda k: b.run(f"set_dic-original-{tag}-{k}", "bench.original", "set_dic", {
            "csv_path": str(csv_path), "out": str(fresh(b.work / "set_dic_o") / "dic.txt"),
            "min_count": min_count})

    def project(csv_path, tag):
        return lambda k: b.run(f"set_dic-project-{tag}-{k}", "set_dic", "main", [
            "--data-dir", str(fresh(b.work / "set_dic_p")), "--csv", str(csv_path),
            "--min-count", str(min_count)])

    big = interleaved({"original": original(big_csv, "big"),
                       "project": project(big_csv, "big")}, b.repeats)
    same = (sorted((b.work / "set_dic_o" / "dic.txt").read_text().split())
            == sorted((b.work / "set_dic_p" / "dic.txt").read_text().split()))
    small = interleaved({"original": original(small_csv, "small"),
                         "project": project(small_csv, "small")}, 1)
    n_big, n_small = b.sizes["csv_rows"], b.sizes["csv_rows_small"]
    orig, proj = rate(big["original"]), rate(big["project"], n_big)
    grow = {w: peak(big[w]) / peak(small[w]) for w in big}
    rows = [
        Row(f"set_dic, {n_big:,}-row CSV", per_second(orig, "rows"), per_second(proj, "rows"),
            times(proj / orig), ">= 3x", proj / orig >= 3, "set_dic"),
        Row(f"set_dic peak memory, {n_small:,} -> {n_big:,} rows",
            f"{peak(small['original']):,.0f} -> {peak(big['original']):,.0f} MB "
            f"({times(grow['original'])})",
            f"{peak(small['project']):,.0f} -> {peak(big['project']):,.0f} MB "
            f"({times(grow['project'])})",
            f"{peak(big['project']) / peak(big['original']):.0%} of the original's",
            "flat: <= 1.2x for 4x rows", grow["project"] <= 1.2, "set_dic-memory"),
    ]
    memory = [memory_entry(f"set_dic: original (csv list + dict), {n:,} rows", s["original"])
              for n, s in ((n_small, small), (n_big, big))]
    memory += [memory_entry(f"set_dic: set_dic.py, {n:,} rows", s["project"])
               for n, s in ((n_small, small), (n_big, big))]
    cpu = {w: 1e6 * median([x.call_cpu for x in big[w]]) / n_big for w in big}
    return rows, memory, {"same_tags": same, "cpu": cpu}


def deal_folder(b, name, thumbnails, deal_csv, dic):
    """A data folder as download.py and set_dic.py leave it, for one deal.py run."""
    folder = fresh(b.work / name)
    os.symlink(thumbnails.resolve(), folder / "images")
    shutil.copy(deal_csv, folder / "all_data.csv")
    shutil.copy(dic, folder / "dic.txt")
    return folder


def deal_stage(b, thumbnails, deal_csv, dic):
    """Images per second resized into tag folders, on one core and on all of them."""
    def original(k):
        return b.run(f"deal-original-{k}", "bench.original", "deal", {
            "csv_path": str(deal_csv), "dic_path": str(dic), "images": str(thumbnails),
            "out": str(fresh(b.work / "deal_o"))})

    def project(n, name):
        return lambda k: b.run(f"deal-project-{n}-{k}", "deal", "main", [
            "--data-dir", str(deal_folder(b, name, thumbnails, deal_csv, dic)),
            "--limit", "0", "--workers", str(n)])

    s = interleaved({"original": original, "one": project(1, "deal_1"),
                     "all": project(b.cores, "dealt")}, b.repeats)
    shutil.rmtree(b.work / "deal_o", ignore_errors=True)
    shutil.rmtree(b.work / "deal_1", ignore_errors=True)
    n = b.sizes["images"]
    orig, one, every = rate(s["original"]), rate(s["one"], n), rate(s["all"], n)
    scaling = every / one
    rows = [Row("deal, 1 core (`--workers 1`)", per_second(orig, "images"),
                per_second(one, "images"), times(one / orig), ">= 3x", one / orig >= 3, "deal-1"),
            Row(f"deal, all {b.cores} cores (`--workers {b.cores}`)",
                per_second(orig, "images") + " (one process)",
                f"{per_second(every, 'images')} ({scaling:.2f}x its 1-core rate)",
                times(every / orig), f"scales: >= {0.75 * b.cores:.1f}x its 1-core rate",
                scaling >= 0.75 * b.cores, "deal-all")]
    memory = [memory_entry("deal: original (one process, a copy per tag)", s["original"]),
              memory_entry("deal: deal.py --workers 1", s["one"]),
              memory_entry(f"deal: deal.py --workers {b.cores}", s["all"])]
    cpu = {w: 1000 * median([x.call_cpu for x in s[w]]) / n for w in ("original", "one")}
    return rows, memory, {"dealt": b.work / "dealt", "cpu": cpu, "scaling": scaling}


def check_stage(b, dealt):
    """Pictures per second validated, on a hard-linked copy of deal.py's output per run."""
    def copy(name):
        target = b.work / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(dealt, target, symlinks=True, copy_function=os.link)
        return target

    def original(k):
        return b.run(f"check-original-{k}", "bench.original", "check",
                     {"root": str(copy("check_o") / "anime_images")})

    def project(n):
        return lambda k: b.run(f"check-project-{n}-{k}", "check", "main",
                               ["--data-dir", str(copy("check_p")), "--workers", str(n)])

    workers = sorted({1, b.cores})
    s = interleaved({"original": original, **{w: project(w) for w in workers}}, b.repeats)
    for name in ("check_o", "check_p"):
        shutil.rmtree(b.work / name, ignore_errors=True)
    n = b.sizes["images"]
    orig = rate(s["original"], n)
    entries = s["original"][0].result["entries"]
    rows = [Row(f"check, {n:,} pictures in {entries:,} tag-folder entries"
                f"{' (1 core)' if w == 1 else f' (`--workers {w}`)'}",
                per_second(orig, "pictures"), per_second(rate(s[w], n), "pictures"),
                times(rate(s[w], n) / orig)) for w in workers]
    memory = [memory_entry("check: original (open + verify per entry)", s["original"])]
    memory += [memory_entry(f"check: check.py --workers {w}", s[w]) for w in workers]
    return rows, memory, {"entries": entries}
