"""Ctrl-C in each kind of stage, pressed in a real (pseudo-)terminal: the script stops within
seconds, keeps what it has done, prints one line and exits 130, with no traceback from it or
from its worker processes."""
import os
import re
import time

from conftest import image_bytes, make_downloaded, make_shapes_data, read_csv, write_csv
from tagger.core.entry import STOPPED
from terminal import Terminal, last_line


def assert_stopped(term, pressed, within):
    rc = term.wait(within)
    out = term.output
    assert rc == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert last_line(out) == STOPPED, out
    return time.monotonic() - pressed


def test_download_stops_at_once_against_a_server_that_never_answers(server, silent_server,
                                                                      data_dir):
    rows = [{"id": i, "url": server.image(f"/{i}.jpg"), "tags": "a"} for i in range(1, 6)]
    rows += [{"id": i, "url": f"{silent_server.url}/{i}.jpg", "tags": "a"} for i in range(6, 41)]
    write_csv(data_dir / "all_data.csv", rows)
    with Terminal("download.py", "--data-dir", data_dir) as term:  # the default 20 s timeout
        images = data_dir / "images"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list(images.glob("*.jpg"))) < 5:
            time.sleep(0.05)
        term.wait_for(r"download:")
        time.sleep(0.3)  # the silent rows' requests are in flight
        assert_stopped(term, term.ctrl_c(), within=10)  # it took 104 s
    assert sorted(p.name for p in images.iterdir()) == [f"{i}.jpg" for i in range(1, 6)]
    assert read_csv(data_dir / "download_errors.csv") == []  # in flight is not failed: a rerun


def test_download_with_max_rps_sends_nothing_after_ctrl_c(server, data_dir):
    url = server.image("/a.jpg")
    write_csv(data_dir / "all_data.csv", [{"id": i, "url": url, "tags": "a"} for i in range(1, 41)])
    with Terminal("download.py", "--data-dir", data_dir, "--max-rps", "2", "--connections", "8") as term:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(server.hits("/a.jpg")) < 2:
            time.sleep(0.02)
        pressed = term.ctrl_c()
        assert_stopped(term, pressed, within=10)
    last_request = max(t for _, t, _ in server.hits("/a.jpg"))
    assert last_request < pressed + 0.5, "it went on downloading after Ctrl-C"
    assert len(server.hits("/a.jpg")) < 40


def test_deal_workers_stop_quietly_and_done_images_are_kept(data_dir):
    picture = image_bytes((200, 30, 30), (640, 480))
    make_downloaded(data_dir, [(i, "smile", picture) for i in range(1, 601)], ["smile"])
    with Terminal("deal.py", "--data-dir", data_dir, "--workers", "2") as term:
        resized = data_dir / "resized"
        deadline = time.monotonic() + 60
        # workers report in chunks of 32: with 80 files, one chunk at least has come back
        while time.monotonic() < deadline and (not resized.exists() or len(os.listdir(resized)) < 80):
            time.sleep(0.02)
        time.sleep(0.1)
        assert_stopped(term, term.ctrl_c(), within=10)
    done = len(read_csv(data_dir / "labels.csv"))
    assert 32 <= done < 600, "the Ctrl-C should land mid-run"
    assert len(os.listdir(data_dir / "anime_images" / "smile")) >= done


def test_set_dic_workers_stop_quietly_and_write_nothing(data_dir):
    csv_path = data_dir / "all_data.csv"
    with open(csv_path, "w") as f:
        f.write("id,created_at,rating,score,sample_url,sample_width,sample_height,preview_url,tags\n")
        f.writelines(f"{i},0,s,0,http://x/{i}.jpg,1,1,http://x/{i}.jpg,tag{i % 997} tag{i % 89} "
                     f"smile 1girl long_hair\n" for i in range(1, 700_001))
    with Terminal("set_dic.py", "--data-dir", data_dir, "--workers", "2", "--max-tags", "3",
                  "--limit", "0") as term:
        term.wait_for(r"count tags:")
        time.sleep(0.3)
        assert_stopped(term, term.ctrl_c(), within=10)
    assert not (data_dir / "dic.txt").exists()
    assert [p.name for p in data_dir.iterdir()] == ["all_data.csv"]  # no partial output


def test_check_workers_stop_quietly_and_move_nothing(data_dir):
    folder = data_dir / "anime_images" / "smile"
    folder.mkdir(parents=True)
    picture = image_bytes((30, 30, 200), (1200, 1200))
    for i in range(1, 401):
        (folder / f"{i}.jpg").write_bytes(picture)
    with Terminal("check.py", "--data-dir", data_dir, "--workers", "2") as term:
        term.wait_for(r"check:\s+\d+%.*\|\s*[1-9]\d*/400")
        assert_stopped(term, term.ctrl_c(), within=10)
    assert len(os.listdir(folder)) == 400  # nothing quarantined on the way out
    assert not (data_dir / "quarantine").exists()


def test_train_stops_between_steps_and_keeps_its_checkpoint(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=60)
    run = tmp_path / "runs" / "r"
    with Terminal("train.py", "--data-dir", data, "--run", run, "--batch-size", "16",
                  "--epochs", "300", "--patience", "0") as term:
        term.wait_for(r"epoch 2/300", timeout=120)  # the training loop's bar
        assert_stopped(term, term.ctrl_c(), within=20)
    assert len(read_csv(run / "history.csv")) >= 1  # the finished epochs are kept
    assert (run / "checkpoints").is_dir()  # and the same command resumes from them


def test_train_stopped_while_tensorflow_loads_prints_only_the_stopped_line(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=12)
    with Terminal("train.py", "--data-dir", data, "--run", tmp_path / "r", "--epochs", "1",
                  "--batch-size", "8") as term:
        time.sleep(1)  # TensorFlow takes about 3 s to import here
        assert_stopped(term, term.ctrl_c(), within=20)
    shown = re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\^C", "", term.output).strip()
    assert shown == STOPPED, term.output
