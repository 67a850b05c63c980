"""serve.py as a real server process on a free loopback port: both APIs, the bad bodies,
a burst of concurrent clients, auth, the body limit, and draining on SIGTERM / SIGINT."""
import base64
import io
import concurrent.futures
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from PIL import Image

from conftest import ROOT, image_bytes, shape_image


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """A serve.py process and its base URL."""

    def __init__(self, *flags):
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), *flags,
                                      "--port", port], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve.py exited {self.proc.returncode}: "
                                     f"{self.proc.stdout.read()}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError("serve.py did not answer within 120 s")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Shape pictures (PNG), and JPEGs large enough for the reduced decode to matter."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(5)
    for i, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"),
                                         ("red", "square"), ("blue", "circle")]):
        (folder / f"{i}.png").write_bytes(shape_image(rng, colour, shape))
        big = Image.open(folder / f"{i}.png").resize((400, 300))
        big.save(folder / f"{i}_big.jpg", quality=90)
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def runs(trained, tmp_path_factory):
    """A runs folder holding a copy of the trained run, and a link leading out of it."""
    _, run = trained
    folder = tmp_path_factory.mktemp("served") / "runs"
    shutil.copytree(run, folder / "shapes", ignore=shutil.ignore_patterns("logs", "checkpoints"))
    (folder / "outside").symlink_to(run, target_is_directory=True)
    (folder / "notes.txt").write_text("not a tagger\n")
    return folder


@pytest.fixture(scope="module")
def server(runs):
    served = Served("--runs-dir", str(runs), "--max-body-mb", "1", "--max-wait-ms", "20")
    yield served
    served.stop()


def b64(data):
    return base64.b64encode(data).decode()


def interrogate(server, data, **fields):
    body = {"image": b64(data), "model": "shapes", "threshold": 0.35, **fields}
    return requests.post(server.url + "/tagger/v1/interrogate", json=body, timeout=60)


def test_lists_the_taggers_in_the_runs_folder_only(server):
    assert requests.get(server.url + "/tagger/v1/interrogators").json() == {"models": ["shapes"]}
    health = requests.get(server.url + "/healthz").json()
    assert health["ok"] and health["models"] == ["shapes"]


def test_interrogate_answers_the_tags_of_tag_py(server, runs, pictures, tmp_path):
    import tag

    folder = tmp_path / "pictures"
    shutil.copytree(pictures[0].parent, folder)
    tag.main([str(folder), "--run", str(runs / "shapes"), "--threshold", "0.35",
              "--scores", str(tmp_path / "scores.csv"), "--workers", "0", "--quiet"])
    with open(tmp_path / "scores.csv", newline="") as f:
        rows = {os.path.basename(r.pop("image")): r for r in csv.DictReader(f)}
    for path in pictures:
        expected = (folder / path.name).with_suffix(".txt").read_text().strip().split(", ")
        data = path.read_bytes()
        as_url = f"data:image/{path.suffix[1:]};base64," + b64(data)
        wrapped = base64.encodebytes(data).decode()  # base64 broken into lines
        for image in (b64(data), as_url, wrapped):
            reply = interrogate(server, data, image=image)
            assert reply.status_code == 200, reply.text
            caption = reply.json()["caption"]
            assert list(caption) == [t for t in expected if t], path.name
        own = requests.post(server.url + "/api/tag", files={"image": (path.name, data)},
                            data={"model": "shapes", "threshold": "0.35"}, timeout=60).json()
        assert [t for t, _ in own["tags"]] == list(caption)
        assert own["caption"] == ", ".join(caption)
        for name, score in own["scores"].items():
            assert score == pytest.approx(float(rows[path.name][name]), abs=2e-4)


def test_unload_interrogators_closes_the_models_and_they_open_again(server, pictures):
    data = pictures[0].read_bytes()
    before = interrogate(server, data).json()["caption"]
    assert requests.get(server.url + "/api/models").json()["models"][0]["tag_count"]
    reply = requests.post(server.url + "/tagger/v1/unload-interrogators", timeout=60)
    assert reply.status_code == 200 and reply.json() == "Successfully unload 1 model(s)"
    assert requests.get(server.url + "/api/models").json()["models"][0]["tag_count"] is None
    again = requests.post(server.url + "/tagger/v1/unload-interrogators", timeout=60).json()
    assert again == "Successfully unload 0 model(s)"
    assert interrogate(server, data).json()["caption"] == before  # opened again on demand


def test_own_endpoint_tuned_thresholds_all_scores_and_drawing(server, runs, pictures):
    from tagger.infer.session import open_tagger

    tagger = open_tagger(runs / "shapes")
    reply = requests.post(server.url + "/api/tag", timeout=60, data={"draw": "1"},
                          files={"image": ("a.png", pictures[0].read_bytes())})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["model"] == "shapes" and answer["threshold"] == "tuned"
    assert answer["tag_count"] == len(tagger.tags) and set(answer["scores"]) == set(tagger.tags)
    limits = dict(zip(tagger.tags, tagger.thresholds))
    assert [t for t, _ in answer["tags"]] == [
        t for t, s in sorted(answer["scores"].items(), key=lambda kv: -kv[1]) if s >= limits[t]]
    assert answer["drawn"].startswith("data:image/png;base64,")
    drawn = Image.open(io.BytesIO(base64.b64decode(answer["drawn"].split(",")[1])))
    assert min(drawn.size) >= 400  # draw.py enlarges small pictures to 400 px


def bomb_png():
    """A small PNG whose pixel count trips Pillow's decompression-bomb guard."""
    buf = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("body, status", [
    ({"image": "!!!not base64!!!"}, 400),
    ({"image": b64(b"just some text")}, 400),
    ({"image": ""}, 400),
    ({"image": None}, 400),
    ({"model": "nope"}, 404),
    ({"model": "outside"}, 404),
    ({"model": "notes.txt"}, 404),
    ({"model": "../shapes"}, 400),
    ({"model": "/etc/passwd"}, 400),
    ({"model": ".."}, 400),
    ({"model": ["shapes"]}, 400),
    ({"threshold": 2}, 422),
    ({"threshold": "high"}, 422),
])
def test_bad_interrogate_bodies_get_a_one_line_4xx(server, body, status):
    full = {k: v for k, v in {"image": b64(image_bytes()), "model": "shapes", **body}.items()
            if v is not None}
    reply = requests.post(server.url + "/tagger/v1/interrogate", json=full, timeout=60)
    assert reply.status_code == status, reply.text
    detail = reply.json()["detail"]
    assert detail and "\n" not in detail


def test_not_json_a_bomb_and_bad_uploads_are_refused(server):
    url = server.url
    assert requests.post(url + "/tagger/v1/interrogate", data=b"{oops", timeout=30).status_code == 400
    assert requests.post(url + "/tagger/v1/interrogate", json=[1], timeout=30).status_code == 400
    deep = b"[" * 200_000 + b"]" * 200_000
    assert requests.post(url + "/tagger/v1/interrogate", data=deep, timeout=30).status_code == 400
    bomb = interrogate(server, bomb_png())
    assert bomb.status_code == 400 and "DecompressionBomb" in bomb.json()["detail"]
    assert requests.post(url + "/api/tag", data={"model": "shapes"}, timeout=30).status_code == 400
    text = requests.post(url + "/api/tag", files={"image": ("x.png", b"not a picture")},
                         timeout=30)
    assert text.status_code == 400 and "not a readable picture" in text.json()["detail"]
    assert requests.get(url + "/nowhere", timeout=30).status_code == 404
    assert requests.get(url + "/tagger/v1/interrogate", timeout=30).status_code == 405
    assert requests.get(url + "/static/../models.py", timeout=30).status_code == 404


def test_bodies_over_the_limit_get_413(server):
    big = {"image": b64(os.urandom(1_200_000)), "model": "shapes"}
    assert requests.post(server.url + "/tagger/v1/interrogate", json=big,
                         timeout=30).status_code == 413

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        yield (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
               b'Content-Type: image/png\r\n\r\n')
        for _ in range(20):
            yield b"x" * 100_000

    reply = requests.post(server.url + "/api/tag", data=chunks(), timeout=30,
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert reply.status_code == 413
    assert requests.get(server.url + "/healthz", timeout=30).ok


def test_a_burst_of_concurrent_clients_all_get_their_own_tags(server, pictures):
    expected = {p: list(interrogate(server, p.read_bytes()).json()["caption"]) for p in pictures}
    before = requests.get(server.url + "/healthz").json()
    jobs = [pictures[i % len(pictures)] for i in range(48)]
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        replies = list(pool.map(lambda p: (p, interrogate(server, p.read_bytes())), jobs))
    for path, reply in replies:
        assert reply.status_code == 200, reply.text
        assert list(reply.json()["caption"]) == expected[path]
    after = requests.get(server.url + "/healthz").json()
    assert after["pictures"] - before["pictures"] == len(jobs)


def test_the_page_and_openapi_are_served_without_internet_assets(server):
    page = requests.get(server.url + "/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text
    spec = requests.get(server.url + "/openapi.json", timeout=30).json()
    assert {"/tagger/v1/interrogate", "/tagger/v1/interrogators", "/api/tag",
            "/healthz"} <= set(spec["paths"])


def test_sigint_stops_the_server_with_exit_0(server):
    assert server.stop(signal.SIGINT) == 0


def test_auth_and_drain_on_sigterm(trained, pictures):
    _, run = trained
    served = Served("--run", str(run), "--auth", "user:secret", "--max-wait-ms", "1500")
    try:
        url = served.url
        assert requests.get(url + "/healthz", timeout=30).ok  # open for health checks
        assert requests.get(url + "/tagger/v1/interrogators", timeout=30).status_code == 401
        wrong = requests.get(url + "/tagger/v1/interrogators", auth=("user", "no"), timeout=30)
        assert wrong.status_code == 401
        models = requests.get(url + "/tagger/v1/interrogators", auth=("user", "secret"))
        assert models.json() == {"models": [run.name]}
        body = {"image": b64(pictures[0].read_bytes()), "model": run.name}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(requests.post, url + "/tagger/v1/interrogate", json=body,
                                  auth=("user", "secret"), timeout=60)
            while requests.get(url + "/healthz", timeout=30).json()["waiting"] == 0:
                time.sleep(0.05)  # until the request waits in its batch (for 1.5 s)
            served.proc.send_signal(signal.SIGTERM)
            assert pending.result().status_code == 200
        assert served.stop() == 0
    finally:
        served.stop()


def test_a_picture_waiting_past_the_timeout_gets_504(trained, pictures):
    _, run = trained
    served = Served("--run", str(run), "--max-wait-ms", "3000", "--timeout", "0.5")
    try:
        body = {"image": b64(pictures[0].read_bytes())}
        reply = requests.post(served.url + "/tagger/v1/interrogate", json=body, timeout=60)
        assert reply.status_code == 504 and "0.5 s" in reply.json()["detail"]
        assert requests.get(served.url + "/healthz", timeout=30).ok
    finally:
        assert served.stop() == 0


def test_serve_py_refuses_bad_flags_and_a_missing_run_in_one_line(tmp_path, capsys):
    import serve

    for argv in (["--run", str(tmp_path), "--auth", "nocolon"], [],
                 ["--runs-dir", str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as stopped:
            serve.main(argv)
        assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        serve.main(["--run", str(tmp_path / "no_run"), "--port", str(free_port())])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: model 'no_run' cannot be opened") and "train first" in err


def test_quiet_prints_no_start_up_or_request_line_and_no_tensorflow_line(trained, pictures):
    _, run = trained
    served = Served("--run", str(run), "--quiet")
    try:
        assert interrogate(served, pictures[0].read_bytes(), model=run.name).ok
    finally:
        code = served.stop()
    out = served.proc.stdout.read()
    assert code == 0 and out == "", out


def test_only_loopback_addresses_count_as_this_machine():
    import serve

    assert all(serve.loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(serve.loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.org"))
