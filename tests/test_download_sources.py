"""download.py --url-column (sample-size pictures into their own folder), --connections
and its old --workers, and the one row window that set_dic.py and deal.py follow."""
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import deal
import download
from conftest import Reply, read_csv, write_csv


def noisy_png(width, height, seed=0):
    """A picture no codec shrinks: a sample-size PNG of random pixels (width x height x 3
    bytes and more)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def sample_rows(server, n=3, size=(850, 640)):
    """Rows whose sample_url serves a sample-size JPEG and preview_url a thumbnail."""
    rows = []
    for i in range(1, n + 1):
        sample = server.image(f"/samples/{i}.jpg", size=size, color=(60 * i, 90, 90))
        preview = server.image(f"/thumbnails/{i}.jpg", size=(150, 113))
        rows.append([i, "0", "s", "0", sample, str(size[0]), str(size[1]), preview,
                     "smile solo" if i % 2 else "smile"])
    return rows


def run(data_dir, *flags):
    return download.main(["--data-dir", str(data_dir), "--retries", "0", *flags])


def test_sample_url_goes_to_its_own_folder_and_deal_finds_it_at_448(server, data_dir):
    write_csv(data_dir / "all_data.csv", sample_rows(server))
    assert run(data_dir, "--url-column", "sample_url")["downloaded"] == 3
    assert sorted(os.listdir(data_dir / "sample_images")) == ["1.jpg", "2.jpg", "3.jpg"]
    assert not (data_dir / "images").exists() and not server.hits("/thumbnails/1.jpg")
    assert Image.open(data_dir / "sample_images" / "1.jpg").size == (850, 640)
    recorded = json.loads((data_dir / "download_args.json").read_text())
    assert recorded["url_column"] == "sample_url" and recorded["out"] == "sample_images"
    assert run(data_dir)["already present"] == 3  # a rerun keeps the recorded column
    (data_dir / "dic.txt").write_text("smile\nsolo\n")
    counts = deal.main(["--data-dir", str(data_dir), "--image-size", "448", "--workers", "1"])
    assert counts["resized"] == 3 and counts["not downloaded"] == 0
    assert Image.open(data_dir / "anime_images" / "smile" / "2.jpg").size == (448, 448)


def test_the_byte_limit_fits_the_column(server, data_dir):
    big = noisy_png(900, 900)  # a sample of 2.4 MB: over a thumbnail's 2 MiB
    assert len(big) > 2 * 1024 * 1024
    row = [1, "0", "s", "0", server.route("/samples/1.png", Reply(200, big)), "900", "900",
           server.route("/thumbnails/1.png", Reply(200, big)), "smile"]
    write_csv(data_dir / "all_data.csv", [row])
    thumbs, samples = data_dir / "thumbs", data_dir / "samples"
    write_csv(thumbs / "all_data.csv", [row])
    write_csv(samples / "all_data.csv", [row])
    assert run(thumbs)["failed"] == 1
    assert "over --max-bytes 2,097,152" in read_csv(thumbs / "download_errors.csv")[0]["reason"]
    assert run(samples, "--url-column", "sample_url")["downloaded"] == 1
    assert (samples / "sample_images" / "1.png").stat().st_size == len(big)


def test_another_column_in_the_same_data_folder_is_refused(server, data_dir, capsys):
    write_csv(data_dir / "all_data.csv", sample_rows(server, 1))
    run(data_dir)
    with pytest.raises(SystemExit) as stop:
        run(data_dir, "--url-column", "sample_url")
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "holds the pictures of preview_url" in err and "another --data-dir" in err
    assert not (data_dir / "sample_images").exists()


def test_a_csv_without_the_column_is_one_line(server, data_dir, capsys):
    write_csv(data_dir / "all_data.csv", sample_rows(server, 1))
    with pytest.raises(SystemExit):
        run(data_dir, "--url-column", "file_url")
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "has no file_url column" in err
    assert "--url-column" in err and len(err.splitlines()) == 1


def test_connections_and_the_old_workers_with_a_note(server, data_dir, capsys):
    write_csv(data_dir / "all_data.csv", sample_rows(server, 2))
    assert download.parse_args(["--data-dir", str(data_dir), "--connections", "3"]).connections == 3
    assert capsys.readouterr().err == ""
    assert download.parse_args(["--data-dir", str(data_dir), "--workers", "5"]).connections == 5
    assert "--workers is now --connections" in capsys.readouterr().err


def test_one_row_window_for_download_set_dic_and_deal(server, data_dir, capsys):
    """download.py records its --limit; set_dic.py and deal.py read the same rows with
    nothing extra printed, and an explicit other --limit is explained in one line."""
    import set_dic

    write_csv(data_dir / "all_data.csv", [
        {"id": i, "url": server.image(f"/{i}.jpg", color=(20 * i, 90, 90)), "tags": "smile"}
        for i in range(1, 7)])
    assert run(data_dir, "--limit", "4")["downloaded"] == 4
    capsys.readouterr()
    set_dic.main(["--data-dir", str(data_dir), "--min-count", "0"])
    assert "over 4 rows" in capsys.readouterr().out
    counts = deal.main(["--data-dir", str(data_dir), "--image-size", "32", "--workers", "1"])
    out, err = capsys.readouterr()
    assert counts["resized"] == 4 and counts["not downloaded"] == 0 and err == ""
    assert json.loads((data_dir / "deal_args.json").read_text())["limit"] == 4
    counts = deal.main(["--data-dir", str(data_dir), "--workers", "1", "--limit", "6"])
    err = capsys.readouterr().err
    assert counts["not downloaded"] == 2 and counts["already done"] == 4
    assert err.strip() == ("note: resizing the first 6 rows, where download.py fetched the "
                           "first 4 rows; the rows past those count as not downloaded")
    assert run(data_dir)["already present"] == 4  # a rerun keeps the window: no new rows
