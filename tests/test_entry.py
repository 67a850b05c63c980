"""How every stage ends when it cannot finish: Ctrl-C and OS errors as one line, no traceback."""
import errno
import importlib

import pytest

from conftest import write_csv
from tagger.core.entry import STOPPED, describe_os_error

SCRIPTS = ("download", "set_dic", "deal", "check", "train", "test", "draw", "tag", "export")


@pytest.mark.parametrize("name", SCRIPTS)
def test_ctrl_c_anywhere_in_a_stage_is_one_line_and_exit_130(name, monkeypatch, capsys):
    script = importlib.import_module(name)

    def interrupted(argv=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "parse_args", interrupted)
    with pytest.raises(SystemExit) as stop:
        script.main([])
    assert stop.value.code == 130
    assert capsys.readouterr().err == STOPPED + "\n"


def test_os_errors_name_the_file_and_what_to_do():
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", "data/labels.csv")
    assert describe_os_error(gone) == ("data/labels.csv: No such file or directory; check the "
                                       "path, or run the stage that makes it first")
    full = OSError(errno.ENOSPC, "No space left on device", "data/resized/1.jpg")
    assert "run the same command to continue" in describe_os_error(full)
    assert describe_os_error(OSError("plain")) == "plain"


@pytest.fixture
def a_file_and_a_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "dic.txt").write_text("a\n")
    (tmp_path / "pic.png").write_bytes(b"")
    write_csv(tmp_path / "real.csv", [{"id": 1, "url": "http://127.0.0.1:9/1.jpg", "tags": "a"}])
    (tmp_path / "folder.csv").mkdir()


@pytest.mark.parametrize("name, argv, says", [
    ("download", ["--data-dir", "afile", "--csv", "real.csv"], "--data-dir: afile is a file, not a folder"),
    ("set_dic", ["--data-dir", "afile", "--csv", "real.csv", "--top", "1"], "--data-dir: afile is a file"),
    ("deal", ["--data-dir", "afile", "--csv", "real.csv", "--dic", "dic.txt"], "--data-dir: afile is a file"),
    ("check", ["--data-dir", "afile"], "--data-dir: afile is a file, not a folder"),
    ("train", ["--data-dir", "afile", "--dic", "dic.txt"], "--data-dir: afile is a file, not a folder"),
    ("test", ["--data-dir", "afile"], "--data-dir: afile is a file, not a folder"),
    ("draw", ["pic.png", "--run", "afile"], "afile: a file, but not a tagger"),
    ("download", ["--csv", "folder.csv"], "folder.csv is a folder, not a CSV file"),
    ("set_dic", ["--csv", "folder.csv"], "folder.csv is a folder, not a CSV file"),
    ("deal", ["--csv", "folder.csv", "--data-dir", "."], "folder.csv is a folder, not a CSV file"),
])
def test_ordinary_os_mistakes_are_one_clear_line(name, argv, says, a_file_and_a_csv, capsys):
    script = importlib.import_module(name)
    with pytest.raises(SystemExit) as stop:
        script.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    last = err.strip().splitlines()[-1]  # argparse's own errors follow a usage line
    assert "error: " in last and says in last and "Traceback" not in err, err
    assert "Errno" not in err
