"""download.py against a real local HTTP server with faults."""
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import download
from conftest import ROOT, Reply, image_bytes, read_csv, write_csv
from tagger.data.safebooru import absolute_url


def run(data_dir, *flags):
    return download.main(["--data-dir", str(data_dir), "--retries", "2", *flags])


def errors_by_id(data_dir):
    return {int(r["id"]): r["reason"] for r in read_csv(data_dir / "download_errors.csv")}


def test_downloads_jpeg_and_png_under_their_real_extension(server, data_dir):
    write_csv(data_dir / "all_data.csv", [
        {"id": 1, "url": server.image("/a.jpg"), "tags": "1girl smile"},
        {"id": 2, "url": server.route("/b.png", Reply(200, image_bytes(fmt="PNG"))), "tags": "hat"},
    ])
    counts = run(data_dir)
    assert counts["downloaded"] == 2
    assert sorted(os.listdir(data_dir / "images")) == ["1.jpg", "2.png"]
    assert Image.open(data_dir / "images" / "2.png").format == "PNG"
    assert "anime-tagger" in server.hits("/a.jpg")[0][2]["User-Agent"]


def test_faults_are_retried_or_recorded(server, data_dir):
    jpg = image_bytes()
    html = b"<html><body>Service temporarily unavailable</body></html>"
    rows = [
        {"id": 1, "url": server.route("/404.jpg", Reply(404, b"nope")), "tags": "a"},
        {"id": 2, "url": server.route("/flaky.jpg", Reply(500), Reply(200, jpg)), "tags": "a"},
        {"id": 3, "url": server.route("/busy.jpg", Reply(429, headers={"Retry-After": "1"}),
                                      Reply(200, jpg)), "tags": "a"},
        {"id": 4, "url": server.route("/slow.jpg", Reply(200, jpg, delay=3)), "tags": "a"},
        {"id": 5, "url": server.route("/cut.jpg", Reply(200, jpg, truncate=len(jpg) // 2)), "tags": "a"},
        {"id": 6, "url": server.route("/html.jpg", Reply(200, html, {"Content-Type": "text/html"})), "tags": "a"},
        {"id": 7, "url": server.route("/moved.jpg", Reply(302, headers={"Location": "/a.jpg"})), "tags": "a"},
        {"id": 8, "url": server.route("/empty.jpg", Reply(200, b"")), "tags": "a"},
        # the server's own copy is cut short: the length it declares is right, the JPEG is not
        {"id": 9, "url": server.route("/half.jpg", Reply(200, jpg[:len(jpg) // 2])), "tags": "a"},
        {"id": 10, "url": "ftp://127.0.0.1/x.jpg", "tags": "a"},
    ]
    server.image("/a.jpg")
    write_csv(data_dir / "all_data.csv", rows)
    t0 = time.monotonic()
    counts = run(data_dir, "--timeout", "1", "--connections", "4")
    assert sorted(os.listdir(data_dir / "images")) == ["2.jpg", "3.jpg", "7.jpg"]
    assert len(server.hits("/flaky.jpg")) == 2
    busy = server.hits("/busy.jpg")
    assert len(busy) == 2 and busy[1][1] - busy[0][1] >= 0.9  # waited for Retry-After
    assert len(server.hits("/slow.jpg")) == 3  # first try and two retries, all timed out
    # a body cut short is fetched again by download.py (first try and two retries); on a
    # loaded machine a reply slower than --timeout can add urllib3's own retry of a try
    assert len(server.hits("/cut.jpg")) >= 3
    errors = errors_by_id(data_dir)
    assert errors[1] == "HTTP 404 Not Found"
    assert "Timeout" in errors[4] or "timed out" in errors[4]
    assert "not an image (text/html" in errors[6]
    assert "IncompleteRead" in errors[5]
    assert errors[8] == "empty body"
    assert errors[9].startswith("truncated jpg")
    assert "unsupported URL scheme 'ftp'" in errors[10]
    assert counts["failed"] == 6 and counts["downloaded"] == 3 and counts["bad row"] == 1
    assert time.monotonic() - t0 < 60


def test_body_over_max_bytes_is_rejected(server, data_dir):
    big = image_bytes(size=(400, 400))
    write_csv(data_dir / "all_data.csv", [{"id": 1, "url": server.route("/big.jpg", Reply(200, big)), "tags": "a"}])
    run(data_dir, "--max-bytes", "1000")
    assert not (data_dir / "images" / "1.jpg").exists()
    assert "over --max-bytes" in errors_by_id(data_dir)[1]


def test_bad_rows_are_skipped_listed_and_never_escape(server, data_dir, tmp_path):
    url = server.image("/a.jpg")
    rows = [
        {"id": 1, "url": url, "tags": "1girl"},
        ["2", "0", "s"],                                        # missing fields
        {"id": 3, "url": url, "tags": "   "},                   # no tags
        {"id": 1, "url": url, "tags": "dup"},                   # duplicated id
        {"id": "../../evil", "url": url, "tags": "a"},          # not a number
        {"id": "abc", "url": url, "tags": "a"},
    ]
    csv_path = write_csv(data_dir / "all_data.csv", rows, bom=True)
    with open(csv_path, "a", encoding="utf-8") as f:
        f.write(f'4,0,s,0,{url},1,1,"{url},tag_a\n')  # an opening quote never closed
        f.write(f"5,0,s,0,{url},1,1,{url},ok a\"b\n")  # a quote inside a tag is just a character
    counts = run(data_dir)
    assert counts["downloaded"] == 2  # rows 1 and 5
    reasons = {r["row"]: r["reason"] for r in read_csv(data_dir / "download_errors.csv")}
    assert reasons["3"].startswith("bad row: missing fields")
    assert reasons["4"] == "bad row: no tags"
    assert reasons["5"].startswith("bad row: duplicate id")
    assert reasons["6"] == reasons["7"] == "bad row: id is not a positive integer"
    assert reasons["8"].startswith("bad row: missing fields")
    assert {p.name for p in tmp_path.rglob("*") if p.is_file()} == {
        "all_data.csv", "download_errors.csv", "download_args.json", "1.jpg", "5.jpg"}


def test_progress_bar_reaches_its_total_when_rows_are_bad(server, data_dir):
    from terminal import Terminal, last_line

    url = server.image("/a.jpg")
    rows = [{"id": 1, "url": url, "tags": "a"}, ["2", "0", "s"], {"id": "x", "url": url, "tags": "a"},
            {"id": 4, "url": url, "tags": "   "}, {"id": 5, "url": "ftp://x/5.jpg", "tags": "a"},
            {"id": 6, "url": url, "tags": "a"}]
    csv_path = write_csv(data_dir / "all_data.csv", rows)
    with open(csv_path, "a") as f:
        f.write("\n\n")  # blank lines: counted as lines, not rows
    with Terminal("download.py", "--data-dir", data_dir) as term:  # a terminal draws the bar
        assert term.wait(30) == 0, term.output
        bars = [l for l in term.output.replace("\r", "\n").splitlines() if "download:" in l]
    assert bars and "100%" in bars[-1] and "| 6/6 [" in bars[-1], bars[-1]
    assert last_line(term.output).startswith("downloaded 2 into")


def test_rerun_skips_present_and_failed_until_retry_failed(server, data_dir):
    write_csv(data_dir / "all_data.csv", [
        {"id": 1, "url": server.image("/a.jpg"), "tags": "a"},
        {"id": 2, "url": server.route("/later.jpg", Reply(404)), "tags": "a"},
    ])
    run(data_dir)
    assert errors_by_id(data_dir) == {2: "HTTP 404 Not Found"}
    server.image("/later.jpg")  # the server has it now
    counts = run(data_dir)
    assert counts["already present"] == 1 and counts["failed before"] == 1
    assert len(server.hits("/a.jpg")) == 1 and len(server.hits("/later.jpg")) == 1
    assert errors_by_id(data_dir) == {2: "HTTP 404 Not Found"}  # still listed
    counts = run(data_dir, "--retry-failed")
    assert counts["downloaded"] == 1 and len(server.hits("/a.jpg")) == 1
    assert (data_dir / "images" / "2.jpg").exists() and errors_by_id(data_dir) == {}


def test_limit_reads_only_the_first_rows(server, data_dir):
    url = server.image("/a.jpg")
    write_csv(data_dir / "all_data.csv", [{"id": i, "url": url, "tags": "a"} for i in range(1, 6)])
    run(data_dir, "--limit", "3")
    assert sorted(os.listdir(data_dir / "images")) == ["1.jpg", "2.jpg", "3.jpg"]


def test_max_rps_spaces_requests(server, data_dir):
    url = server.image("/a.jpg")
    write_csv(data_dir / "all_data.csv", [{"id": i, "url": url, "tags": "a"} for i in range(1, 7)])
    run(data_dir, "--max-rps", "5", "--connections", "6")
    times = sorted(t for _, t, _ in server.hits("/a.jpg"))
    assert len(times) == 6
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.15  # 5 per second: 0.2 s apart


def test_protocol_relative_urls_get_https():
    assert absolute_url("//safebooru.org/thumbnails/1/thumbnail_a.jpg") == \
        "https://safebooru.org/thumbnails/1/thumbnail_a.jpg"
    assert absolute_url(" http://x/y.jpg ") == "http://x/y.jpg"


def test_missing_csv_is_a_clear_error(data_dir, capsys):
    with pytest.raises(SystemExit):
        run(data_dir)
    err = capsys.readouterr().err
    assert "all_data.csv: no such file" in err and "--csv" in err
    assert not (data_dir / "download_errors.csv").exists()


def test_killed_run_leaves_no_partial_file_and_rerun_completes(server, data_dir):
    n = 60
    body = image_bytes(size=(150, 150))
    for i in range(n):
        # each body arrives slowly, in two halves, so the kill lands mid-transfer
        server.route(f"/{i}.jpg", Reply(200, body, {"Content-Type": "image/jpeg"}, delay=0.15))
    write_csv(data_dir / "all_data.csv",
              [{"id": i + 1, "url": f"{server.url}/{i}.jpg", "tags": "a"} for i in range(n)])
    cmd = [sys.executable, str(ROOT / "download.py"), "--data-dir", str(data_dir), "--connections", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    images = data_dir / "images"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(images.glob("*.jpg"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(images.glob("*.jpg"))
    assert 5 <= len(done) < n, "the kill should land mid-run"
    for path in done:
        Image.open(path).load()  # every file under a final name is complete
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert sorted(p.name for p in images.iterdir()) == sorted(f"{i + 1}.jpg" for i in range(n))
    for path in images.iterdir():
        Image.open(path).load()


def test_out_is_recorded_and_the_later_stages_read_it(server, data_dir, tmp_path, capsys,
                                                        monkeypatch):
    import deal

    write_csv(data_dir / "all_data.csv", [
        {"id": i, "url": server.image(f"/{i}.jpg", color=(40 * i, 90, 90)), "tags": "smile"}
        for i in (1, 2)])
    elsewhere = tmp_path / "big_disk" / "thumbs"
    monkeypatch.chdir(tmp_path)
    assert run(data_dir, "--out", "big_disk/thumbs", "--limit", "1")["downloaded"] == 1
    assert sorted(os.listdir(elsewhere)) == ["1.jpg"] and not (data_dir / "images").exists()
    # the same folder without --out again; the recorded window (1 row) widened
    assert run(data_dir, "--limit", "0")["downloaded"] == 1
    assert sorted(os.listdir(elsewhere)) == ["1.jpg", "2.jpg"]
    with pytest.raises(SystemExit) as exc:  # a second image folder would split the data
        run(data_dir, "--out", str(tmp_path / "other"))
    assert exc.value.code == 2 and str(elsewhere) in capsys.readouterr().err
    (data_dir / "dic.txt").write_text("smile\n")
    monkeypatch.chdir(data_dir)  # from another working folder
    counts = deal.main(["--data-dir", ".", "--workers", "1", "--image-size", "32"])
    assert counts["resized"] == 2 and counts["not downloaded"] == 0
