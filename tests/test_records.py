"""TFRecord shards: the same images and targets as the files, written once, used by train.py."""
import numpy as np

import train
from conftest import make_shapes_data, read_csv
from tagger.train.dataset import InputSpec, load_examples, make_dataset
from tagger.train.records import existing_records, record_dataset, write_records

TAGS = ["red_background", "blue_background", "circle", "square"]


def _pairs(ds):
    """(image bytes, target) of every example, in a canonical order."""
    return sorted((x.numpy().astype(np.uint8).tobytes(), tuple(y.numpy()))
                  for xb, yb in ds for x, y in zip(xb, yb))


def test_shards_hold_what_the_files_hold_and_are_written_once(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=20)
    ex = load_examples(data, TAGS)
    folder = str(tmp_path / "records")
    files = write_records(folder, ex.paths, ex.labels, n_shards=3)
    assert len(files) == 3
    spec = InputSpec(32, 7, cache=False)
    from_files = make_dataset(ex.paths, ex.labels, spec)
    from_records = record_dataset(files, 4, 20, spec)
    assert _pairs(from_records) == _pairs(from_files)
    halves = [record_dataset(files, 4, 20, InputSpec(32, 7, shard=(2, i))) for i in (0, 1)]
    assert sorted(_pairs(halves[0]) + _pairs(halves[1])) == _pairs(from_files)  # by file
    written = [(tmp_path / "records" / f.rsplit("/", 1)[1]).stat().st_mtime_ns for f in files]
    assert write_records(folder, ex.paths, ex.labels, n_shards=3) == files  # reused
    assert [(tmp_path / "records" / f.rsplit("/", 1)[1]).stat().st_mtime_ns
            for f in files] == written
    changed = ex.labels.copy()
    changed[0, 0] = 1 - changed[0, 0]
    assert existing_records(folder, ex.paths, changed) is None  # other targets: written again


def test_train_reads_shards_with_tfrecords_when_the_images_do_not_fit_the_cache(tmp_path, capsys, monkeypatch):
    import tagger.train.trainer

    data = make_shapes_data(tmp_path / "data", n=24)
    run = tmp_path / "runs" / "r"
    read = []

    def recording(files, *args, **kwargs):
        read.extend(files)
        return record_dataset(files, *args, **kwargs)

    monkeypatch.setattr(tagger.train.trainer, "record_dataset", recording)
    train.main(["--data-dir", str(data), "--run", str(run), "--epochs", "2", "--batch-size", "8",
                "--cache-mb", "0", "--tfrecords", "--patience", "0"])
    assert len(read) == 16 and all(f.startswith(str(run / "records")) for f in read)
    out = capsys.readouterr().out
    assert f"TFRecord shards in {run / 'records'}" in out
    assert [r["epoch"] for r in read_csv(run / "history.csv")] == ["0", "1"]
    assert (run / "model.keras").is_file()
    assert not (run / "records").exists()  # a copy of the images, removed once trained
