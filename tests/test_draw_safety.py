"""draw.py as a hostile user would run it: the files in --out that are not its own stay as
they are, and its own outputs are never taken for pictures."""
import os
import tempfile

import numpy as np
import pytest

import draw
from conftest import shape_image
from tagger.infer.writer import BACKUPS


@pytest.fixture
def pics(tmp_path):
    rng = np.random.default_rng(8)
    folder = tmp_path / "pics"
    folder.mkdir()
    for name, colour, shape in (("a.png", "red", "circle"), ("b.png", "blue", "square")):
        (folder / name).write_bytes(shape_image(rng, colour, shape, 64))
    return folder


def draw_main(run, *argv):
    return draw.main([*map(str, argv), "--run", str(run), "--workers", "1", "--quiet"])


def test_files_in_out_that_are_not_its_own_are_left_as_they_are(trained, pics, tmp_path,
                                                                 capsys, monkeypatch):
    _, run = trained
    out = tmp_path / "out"
    out.mkdir()
    users = {".lock": b"another tool's lock", ".a.png.12-34.png": b"a picture of the user's",
             "a.txt": b"my own caption\n", "notes.md": b"mine"}
    for name, data in users.items():
        (out / name).write_bytes(data)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-tmp"))  # nothing goes to /tmp
    draw_main(run, pics, "--out", out, "--caption")
    assert {n: (out / n).read_bytes() for n in users} == users
    assert f"{out / 'a.txt'}: exists, left as it is" in capsys.readouterr().out
    assert (out / "b.txt").is_file() and (out / "a_tags.png").is_file()
    assert sorted(os.listdir(out)) == sorted([*users, "a_tags.png", "b.txt", "b_tags.png"])
    assert not (tmp_path / "no-tmp").exists()
    draw_main(run, pics, "--out", out, "--caption", "--overwrite")
    assert "red_background" in (out / "a.txt").read_text()
    assert [p.read_bytes() for p in (out / BACKUPS).rglob("a.txt")] == [users["a.txt"]]


def test_drawn_pictures_named_one_by_one_are_not_drawn_again(trained, pics, tmp_path):
    _, run = trained
    draw_main(run, pics, "--out", pics / "drawn", "--caption")
    named = sorted((pics / "drawn").iterdir())  # draw.py pics/drawn/* --out elsewhere
    (pics / "mine_tags.png").write_bytes((pics / "a.png").read_bytes())  # a user's picture
    result = draw_main(run, *named, pics / "mine_tags.png", "--out", tmp_path / "again")
    assert sorted(p.name for p in result) == ["mine_tags.png"]


def test_a_second_run_on_the_same_out_is_refused_with_the_pid(trained, pics, tmp_path, capsys):
    from tagger.infer.writer import locked_writer

    _, run = trained
    with locked_writer([tmp_path / "out"]):
        with pytest.raises(SystemExit) as exc:
            draw_main(run, pics, "--out", tmp_path / "out")
    assert exc.value.code == 2 and f"pid {os.getpid()}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # made for the lock, and empty again: removed


def test_a_folder_in_the_place_of_an_output_is_reported_and_the_run_goes_on(trained, pics,
                                                                            tmp_path, capsys):
    _, run = trained
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)
    (out / "b_tags.png").mkdir()
    for flags in ((), ("--overwrite",)):
        draw_main(run, pics, "--out", out, "--caption", *flags)
        text = capsys.readouterr().out
        assert f"{out / 'a.txt'}: a folder is in the way" in text
        assert f"{out / 'b_tags.png'}: a folder is in the way" in text
    assert (out / "a.txt").is_dir() and (out / "b_tags.png").is_dir()
    assert (out / "a_tags.png").is_file() and (out / "b.txt").is_file()
