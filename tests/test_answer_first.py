"""--help and usage errors answer before TensorFlow, Keras or matplotlib is imported."""
import subprocess
import sys

import pytest

from conftest import ROOT

# Run a script with these modules made unimportable: if --help needed one, it would fail.
BLOCKED = """
import runpy, sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "matplotlib", "onnxruntime"):
            raise ImportError(f"{name} imported before the arguments were checked")
sys.meta_path.insert(0, Blocker())
sys.argv = sys.argv[1:]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
runpy.run_path(sys.argv[0], run_name="__main__")
"""
SCRIPTS = ("download.py", "set_dic.py", "deal.py", "check.py", "train.py", "test.py", "draw.py",
           "tag.py", "export.py", "serve.py")


def run_blocked(script, *args, cwd):
    return subprocess.run([sys.executable, "-c", BLOCKED, str(ROOT / script), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_without_the_heavy_libraries(script, tmp_path):
    done = run_blocked(script, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and "--verbose" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_typo_is_answered_without_the_heavy_libraries(script, tmp_path):
    first = {"draw.py": ["pic.png"], "tag.py": ["pic.png"], "export.py": ["--format", "onnx"],
             "serve.py": ["--run", "r"]}.get(script, [])
    done = run_blocked(script, *first, "--verbos", "--no-such-flag", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "unrecognized arguments: " in done.stderr and "--no-such-flag" in done.stderr
    assert "ImportError" not in done.stderr


def test_train_refuses_bad_settings_without_the_heavy_libraries(tmp_path):
    (tmp_path / "data").mkdir()
    done = run_blocked("train.py", "--val-fraction", "0.6", "--test-fraction", "0.5",
                       cwd=tmp_path)
    assert done.returncode == 2 and "leave nothing to train on" in done.stderr, done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_reads_as_a_person_writes(script, tmp_path):
    out = run_blocked(script, "--help", cwd=tmp_path).stdout
    assert "(default: )" not in out and "(default: None)" not in out
    assert "(the default) (default:" not in out and "(default: False)" not in out


@pytest.mark.parametrize("script", ["tag.py", "draw.py"])
def test_a_typoed_run_is_an_error_even_with_nothing_left_to_do(script, tmp_path):
    """Every picture already captioned (or drawn): a --run that names no tagger must still
    fail, in one line, before any model library loads, and touch nothing."""
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "a.png").write_bytes(b"not looked at")
    (pictures / "a.txt").write_text("my own caption")
    (tmp_path / "runs" / "tagger").mkdir(parents=True)
    for run, says in (("runs/tagr", "runs/tagr: not a tagger (no such folder)"),
                      ("runs", "runs/model.keras not found: train first")):
        done = run_blocked(script, "pictures", "--run", run, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert sorted(p.name for p in pictures.iterdir()) == ["a.png", "a.txt"]
    assert (pictures / "a.txt").read_text() == "my own caption"
    assert not (tmp_path / "drawn").exists()
