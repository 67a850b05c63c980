"""tag.py as a hostile user would run it: nothing of the user's is changed or lost, each
problem is one line, and the run goes on where it can."""
import csv
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

import tag
from conftest import shape_image
from tagger.infer.writer import BACKUPS, locked_writer
from test_onnx_run import without_tensorflow


@pytest.fixture
def pics(tmp_path):
    rng = np.random.default_rng(7)
    folder = tmp_path / "pics"
    folder.mkdir()
    for name, colour, shape in (("a.png", "red", "circle"), ("b.png", "blue", "square")):
        (folder / name).write_bytes(shape_image(rng, colour, shape, 64))
    return folder


def tag_main(run, *argv):
    return tag.main([*map(str, argv), "--run", str(run), "--workers", "0", "--quiet"])


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_append_keeps_the_users_bytes_and_adds_each_new_tag_once(trained, pics, capsys):
    _, run = trained
    (pics / "a.txt").write_bytes(b"\xef\xbb\xbfred background ,  my words\r\nsecond line\r\n\r\n")
    latin = "caf\xe9, circle\n".encode("latin-1")
    (pics / "b.txt").write_bytes(latin)
    result = tag_main(run, pics, "--append")
    text = (pics / "a.txt").read_bytes()
    assert text == (b"\xef\xbb\xbfred background ,  my words\r\nsecond line, circle\r\n\r\n")
    assert (pics / "b.txt").read_bytes() == latin  # not UTF-8: left as it is, by name
    out = capsys.readouterr().out
    assert f"{pics / 'b.txt'}: left as it is, not UTF-8" in out and result["tagged"] == 1
    backups = list((pics / BACKUPS).rglob("a.txt"))
    assert [p.read_bytes() for p in backups] == [
        b"\xef\xbb\xbfred background ,  my words\r\nsecond line\r\n\r\n"]
    tag_main(run, pics, "--append")  # nothing new: not rewritten, no second backup
    assert (pics / "a.txt").read_bytes() == text
    assert len(list((pics / BACKUPS).rglob("a.txt*"))) == 1


def test_overwrite_keeps_the_old_caption_as_a_backup(trained, pics):
    _, run = trained
    (pics / "a.txt").write_text("hand written\n")
    tag_main(run, pics, "--overwrite")
    assert "circle" in (pics / "a.txt").read_text()
    assert [p.read_text() for p in (pics / BACKUPS).rglob("a.txt")] == ["hand written\n"]


@pytest.mark.parametrize("name,text", [("c.jsonl", b'{"mine": 1}\n'), ("n.csv", b"id,x\n1,2\n3")])
@pytest.mark.parametrize("flags", [(), ("--overwrite",), ("--append",)])
def test_a_scores_file_of_the_users_is_refused_before_anything_is_written(trained, pics, capsys,
                                                                          name, text, flags):
    _, run = trained
    (pics.parent / name).write_bytes(text)
    with pytest.raises(SystemExit) as exc:
        tag_main(run, pics, "--scores", pics.parent / name, *flags)
    assert exc.value.code == 2 and "not a scores file of tag.py" in capsys.readouterr().err
    assert (pics.parent / name).read_bytes() == text and files(pics) == ["a.png", "b.png"]


def test_a_shell_glob_never_captions_captions_or_scores(trained, pics, capsys):
    _, run = trained
    tag_main(run, pics, "--scores", pics / "s.csv")
    before = {p: p.read_bytes() for p in pics.iterdir()}
    result = tag_main(run, *sorted(pics.iterdir()), "--scores", pics / "s.csv")  # tag.py pics/*
    assert {p: p.read_bytes() for p in pics.iterdir()} == before
    assert sorted(p.name for p in result["others"]) == ["a.txt", "b.txt", "s.csv"]
    assert f"{pics / 'a.txt'}: skipped, not a picture" in capsys.readouterr().out


def test_each_link_gets_its_caption_and_odd_names_round_trip_through_scores(trained, pics):
    _, run = trained
    for folder in ("10_one", "5_two"):
        (pics / folder).mkdir()
        os.symlink(pics / "a.png", pics / folder / "x.png")
    os.symlink(pics, pics / "5_two" / "loop")  # a link back up the tree is not walked again
    odd = os.fsdecode(b"odd\xe9\r.png")
    shutil.copy(pics / "b.png", pics / odd)
    Image.open(pics / "b.png").convert("RGB").save(pics / "c.jfif", "JPEG")
    for _ in range(2):  # the rerun reads the scores back
        tag_main(run, pics, "--scores", pics.parent / "s.csv")
    assert (pics / "10_one" / "x.txt").is_file() and (pics / "5_two" / "x.txt").is_file()
    assert (pics / "c.txt").is_file() and (pics / os.fsdecode(b"odd\xe9\r.txt")).is_file()
    with open(pics.parent / "s.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
        images = [r["image"] for r in csv.DictReader(f)]
    assert sorted(images) == sorted(map(str, [pics / "a.png", pics / "b.png", pics / odd,
                                              pics / "c.jfif", pics / "10_one" / "x.png",
                                              pics / "5_two" / "x.png"]))


def test_a_caption_path_that_is_a_folder_is_reported_and_the_run_goes_on(trained, pics, capsys):
    _, run = trained
    (pics / "a.txt").mkdir()
    for flags in ((), ("--overwrite",), ("--append",)):
        result = tag_main(run, pics, *flags)
        assert result["refused"] and f"{pics / 'a.txt'}: a folder" in capsys.readouterr().out
    assert (pics / "a.txt").is_dir() and (pics / "b.txt").is_file()


@pytest.mark.parametrize("flag,value", [("--caption-extension", v) for v in (
    "/x.txt", ".t/xt", ".jfif", ".avif", ".txt\0", "..")] + [("--separator", "")])
def test_bad_caption_flags_are_one_line(trained, pics, capsys, flag, value):
    _, run = trained
    with pytest.raises(SystemExit) as exc:
        tag_main(run, pics, flag, value)
    assert exc.value.code == 2 and flag in capsys.readouterr().err


def test_a_picture_above_max_pixels_is_refused_naming_the_flag(trained, pics, capsys):
    _, run = trained
    result = tag_main(run, pics, "--max-pixels", "1000")
    assert result["failed"] == 2 and "--max-pixels 0" in capsys.readouterr().out
    assert tag_main(run, pics, "--max-pixels", "0")["tagged"] == 2


def test_a_second_run_on_the_same_pictures_is_refused_with_the_pid(trained, pics, capsys):
    _, run = trained
    with locked_writer([pics]):
        with pytest.raises(SystemExit) as exc:
            tag_main(run, pics)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"pid {os.getpid()}" in err and "Traceback" not in err
    assert files(pics) == ["a.png", "b.png"]


def test_a_keras_run_without_tensorflow_says_what_to_do(trained, pics, tmp_path):
    _, run = trained
    result = without_tensorflow(tmp_path, "tag.py", pics, "--run", run, "--workers", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is a Keras run and this Python has no TensorFlow: export it" in result.stderr
    assert files(pics) == ["a.png", "b.png"]


def test_a_killed_runs_temporaries_are_removed_even_when_nothing_is_left_to_caption(trained,
                                                                                    pics):
    from tagger.infer.writer import JOURNAL, OutputWriter

    _, run = trained
    tag_main(run, pics)
    left = OutputWriter({pics.resolve(): pics / JOURNAL}).temporary(pics / "a.txt")
    left.write_bytes(b"half a caption")  # as a kill -9 after the last rename leaves it
    (pics / ".a.txt.1-2.part").write_bytes(b"the user's")
    assert tag_main(run, pics)["tagged"] == 0
    assert files(pics) == [".a.txt.1-2.part", "a.png", "a.txt", "b.png", "b.txt"]


def test_a_scores_file_that_is_a_pictures_caption_is_refused(trained, pics, capsys):
    _, run = trained
    with pytest.raises(SystemExit) as exc:
        tag_main(run, pics, "--caption-extension", ".csv", "--scores", pics / "a.csv")
    assert exc.value.code == 2 and "is the caption of" in capsys.readouterr().err
    assert files(pics) == ["a.png", "b.png"]


def test_a_long_picture_name_is_captioned_and_blocks_nothing(trained, pics):
    _, run = trained
    long_name = "y" * 240 + ".png"  # its caption fits in 255 bytes; a naive temporary would not
    shutil.copyfile(pics / "a.png", pics / long_name)
    (pics / ".tagger-journal").write_text('"' + str(pics / ("." + "z" * 300)) + '"\n')
    result = tag_main(run, pics)  # an old journal listing an impossible name is no obstacle
    assert result["tagged"] == 3 and (pics / ("y" * 240 + ".txt")).is_file()
    assert not [p for p in os.listdir(pics) if "tagger-tmp" in p or p == ".tagger-journal"]


def test_a_replaced_caption_keeps_its_mode_and_a_linked_one_is_left_alone(trained, pics,
                                                                         capsys):
    _, run = trained
    (pics / "a.txt").write_text("private\n")
    os.chmod(pics / "a.txt", 0o600)
    shared = pics.parent / "shared.txt"
    shared.write_text("one caption for two folders\n")
    (pics / "b.txt").symlink_to(shared)
    result = tag_main(run, pics, "--append")
    assert (pics / "a.txt").stat().st_mode & 0o777 == 0o600
    assert (pics / "b.txt").is_symlink() and shared.read_text() == "one caption for two folders\n"
    assert f"{pics / 'b.txt'}: is a link, left as it is" in capsys.readouterr().out
    assert result["tagged"] == 1


def test_a_damaged_onnx_model_or_a_file_that_is_no_tagger_is_one_line(exported, pics, tmp_path,
                                                                      capsys):
    _, root = exported
    broken = tmp_path / "broken"
    shutil.copytree(root / "onnx", broken)
    data = (broken / "model.onnx").read_bytes()
    for damage, says in ((data[:1000], "cannot be read"), (b"", "cannot be read")):
        (broken / "model.onnx").write_bytes(damage)
        with pytest.raises(SystemExit) as stop:
            tag.main([str(pics), "--run", str(broken)])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and says in err, err
    with pytest.raises(SystemExit) as stop:
        tag.main([str(pics), "--run", str(pics / "a.png")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "not a tagger" in err and "model.keras" not in err
    assert not list(pics.glob("*.txt"))
