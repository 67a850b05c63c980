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
SCRIPTS = ("train.py", "download.py", "set_dic.py", "deal.py", "check.py")


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
    done = run_blocked(script, "--verbos", "--no-such-flag", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "unrecognized arguments" in done.stderr and "ImportError" not in done.stderr


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
