"""export.py never moves or replaces what is not its own earlier export, and a killed
export's temporary is removed by the next export to the same place, nothing else."""
import os
import subprocess
import sys

import pytest

import export
from conftest import ROOT


def listing(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*"))


def refused(run, out, *flags):
    with pytest.raises(SystemExit) as exc:
        export.main(["--run", str(run), "--format", "onnx", "--out", str(out), *flags])
    return exc.value.code


def test_an_out_that_is_not_an_earlier_export_is_refused_even_with_overwrite(exported, tmp_path,
                                                                            capsys):
    run, root = exported
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"x")
    (mine / "export.json").write_text('{"name": "not an export"}')
    (tmp_path / "file").write_bytes(b"y")
    replaced = run.parent / "replaced"
    moved = listing(replaced) if replaced.exists() else []  # other tests' exports, replaced
    for out in (run, mine, tmp_path / "file", run.parent):
        before = listing(out) if out.is_dir() else out.read_bytes()
        assert refused(run, out, "--overwrite") == 2
        err = capsys.readouterr().err
        assert "not an earlier export" in err and "Traceback" not in err
        assert (listing(out) if out.is_dir() else out.read_bytes()) == before
    assert (listing(replaced) if replaced.exists() else []) == moved
    assert not (tmp_path / "replaced").exists()


def test_a_killed_exports_temporary_is_removed_by_the_next_export(exported, tmp_path):
    run, _ = exported
    out = tmp_path / "onnx"
    (tmp_path / ".onnx.1-2.part").mkdir()  # looks like a temporary: the user's, kept
    code = ("import os, sys; from pathlib import Path; from tagger.infer.writer import "
            "OutputWriter, journal_beside; o = Path(sys.argv[1]); "
            "w = OutputWriter({o: journal_beside(o)}); t = w.temporary(o, '.part'); t.mkdir(); "
            "(t / 'model.onnx').write_bytes(b'half'); os._exit(9)")  # as kill -9 mid-export
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, check=False)
    assert len([p for p in tmp_path.iterdir() if ".tagger-tmp" in p.name]) == 1
    result = export.main(["--run", str(run), "--format", "onnx", "--out", str(out)])
    assert result.out == out and (out / "model.onnx").is_file()
    assert sorted(os.listdir(tmp_path)) == [".onnx.1-2.part", "onnx"]


def test_export_without_tensorflow_says_what_to_do(exported, tmp_path):
    from test_onnx_run import without_tensorflow

    run, _ = exported
    result = without_tensorflow(tmp_path, "export.py", "--run", run, "--format", "onnx",
                                "--out", tmp_path / "x")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "install it (pip install -r requirements.txt)" in result.stderr
    assert not (tmp_path / "x").exists()


def test_an_empty_folder_of_the_users_is_filled_in_place(exported, tmp_path, capsys):
    run, _ = exported
    empty = tmp_path / "empty"
    empty.mkdir()
    result = export.main(["--run", str(run), "--format", "onnx", "--out", str(empty)])
    assert result.replaced is None and "earlier export" not in capsys.readouterr().out
    assert (empty / "model.onnx").is_file() and not (tmp_path / "replaced").exists()
