"""A full disk: a write failing with ENOSPC stops download.py, deal.py and train.py with one
line saying so, and leaves no partial file under a final name (nor a temporary one)."""
import errno
import os

import pytest
from PIL import Image

import deal
import download
import train
from conftest import image_bytes, make_downloaded, make_shapes_data, read_csv, write_csv
from tagger.core.files import TEMPORARY_NAME


class FullDisk:
    """Writes that put down `room` bytes, then fail as a full disk does."""

    def __init__(self, room=100):
        self.room = room

    def fail(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def write_part(self, path, data):
        with open(path, "ab") as f:
            f.write(data[:self.room])
        self.fail(path)


def stopped_by_full_disk(capsys, script, argv):
    with pytest.raises(SystemExit) as stop:
        script.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "No space left on device; the disk is full: free some space, then run the same " \
           "command to continue" in err
    return err


def temporaries(folder):
    return [p for p in folder.rglob(".*") if TEMPORARY_NAME.match(p.name)]


def test_download_stops_on_a_full_disk_with_no_partial_image(server, data_dir, monkeypatch, capsys):
    rows = [{"id": i, "url": server.image(f"/{i}.jpg", color=(i * 9, 40, 90)), "tags": "a"}
            for i in range(1, 9)]
    write_csv(data_dir / "all_data.csv", rows)
    disk = FullDisk()
    real_open = open
    written = []

    def opener(path, mode="r", *args, **kwargs):  # the third image finds the disk full
        if "w" in mode and str(path).endswith(".part") and "images" in str(path):
            written.append(path)
            if len(written) >= 3:
                disk.write_part(path, image_bytes())
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("tagger.core.files.open", opener, raising=False)
    err = stopped_by_full_disk(capsys, download, ["--data-dir", str(data_dir), "--connections", "1"])
    assert "/images/" in err and ".part" not in err  # the image's own name
    images = data_dir / "images"
    for path in images.iterdir():  # whole thumbnails only
        assert path.read_bytes() == server.routes[f"/{path.stem}.jpg"][0].body
    assert len(list(images.iterdir())) == 2 and not temporaries(data_dir)
    monkeypatch.undo()  # space freed: the same command finishes the job
    download.main(["--data-dir", str(data_dir), "--workers", "1"])
    assert len(list(images.iterdir())) == 8


def test_deal_stops_on_a_full_disk_instead_of_calling_every_image_unreadable(data_dir, monkeypatch,
                                                                            capsys):
    make_downloaded(data_dir, [(i, "smile", image_bytes((i * 20, 30, 30), (90, 60)))
                               for i in range(1, 7)], ["smile"])
    disk = FullDisk()
    real_save = Image.Image.save
    saved = []

    def save(self, fp, *args, **kwargs):
        saved.append(fp)
        if len(saved) >= 4:
            disk.write_part(fp, b"\xff\xd8\xff\xe0 partial jpeg")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    err = stopped_by_full_disk(capsys, deal, ["--data-dir", str(data_dir), "--workers", "1"])
    assert "/resized/4.jpg" in err
    assert sorted(os.listdir(data_dir / "resized")) == ["1.jpg", "2.jpg", "3.jpg"]
    assert not temporaries(data_dir)
    assert read_csv(data_dir / "deal_errors.csv") == []  # not blamed on the images
    assert len(read_csv(data_dir / "labels.csv")) == 3  # what was done is kept
    monkeypatch.undo()
    assert deal.main(["--data-dir", str(data_dir), "--workers", "1"])["resized"] == 3


def test_train_stops_on_a_full_disk_and_keeps_no_partial_model(tmp_path, monkeypatch, capsys):
    import keras

    data = make_shapes_data(tmp_path / "data", n=12)
    run = tmp_path / "runs" / "r"
    disk = FullDisk()

    def save(self, filepath, *args, **kwargs):
        disk.write_part(filepath, b"PK\x03\x04 partial zip")

    monkeypatch.setattr(keras.Model, "save", save)
    err = stopped_by_full_disk(capsys, train, ["--data-dir", str(data), "--run", str(run),
                                               "--epochs", "1", "--batch-size", "8"])
    assert f"{run / 'best.keras'}: No space" in err
    assert not (run / "best.keras").exists() and not (run / "model.keras").exists()
    assert not temporaries(run)
