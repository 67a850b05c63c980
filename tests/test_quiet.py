"""tagger.core.quiet: TensorFlow's C++ log lines stay off the terminal unless asked for."""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, make_shapes_data
from tagger.core.quiet import QUIET_LEVEL, keep_quiet, without_log_lines

TF_LOG = re.compile(r"cuInit|oneDNN|[IWE]0000 |absl::InitializeLog")


def test_native_log_lines_are_dropped_and_the_rest_kept(capfd):
    with without_log_lines():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n"
                    b"I0000 00:00:1796236988.360796   30244 port.cc:153] oneDNN custom ops\n"
                    b"E0000 00:00:1796236857.834303   29115 cuda_platform.cc:52] failed call "
                    b"to cuInit: INTERNAL: CUDA error (303)\n"
                    b"a traceback's line\n")
    assert capfd.readouterr().err == "a traceback's line\n"


def test_an_error_inside_still_restores_stderr(capfd):
    with pytest.raises(KeyboardInterrupt), without_log_lines():
        raise KeyboardInterrupt
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_the_users_own_level_or_verbose_changes_nothing(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert not isinstance(keep_quiet(), type(without_log_lines()))
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    keep_quiet(verbose=True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    keep_quiet()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == QUIET_LEVEL


def test_train_prints_no_tensorflow_line_unless_verbose(tmp_path):
    data = make_shapes_data(tmp_path / "data", n=12)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}

    def train(run, *flags):
        cmd = [sys.executable, str(ROOT / "train.py"), "--data-dir", str(data), "--run",
               str(tmp_path / run), "--epochs", "1", "--batch-size", "8", *flags]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)

    quiet = train("quiet")
    assert not [line for line in quiet.stderr.splitlines() if TF_LOG.search(line)], quiet.stderr
    assert re.search(r"^training resnet .* on the CPU \(no GPU found\)$|GPU", quiet.stdout, re.M)
    loud = train("loud", "--verbose")
    assert TF_LOG.search(loud.stderr)  # TensorFlow's own lines, on this CPU-only machine


def test_the_data_scripts_take_verbose_and_quiet_and_record_neither(tmp_path, capsys):
    import deal

    data = make_shapes_data(tmp_path / "data", n=4)
    for flag in ("--quiet", "--verbose"):
        deal.main(["--data-dir", str(data), flag, "--overwrite", "--workers", "1"])
        assert "resized 4 images" in capsys.readouterr().out
        recorded = (data / "deal_args.json").read_text()
        assert '"quiet"' not in recorded and '"verbose"' not in recorded


def test_a_dependencys_own_warning_is_filtered_by_name_not_all_warnings(monkeypatch):
    import warnings

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        keep_quiet()
        warnings.warn_explicit("In the future `np.object` will be defined as the corresponding "
                               "NumPy scalar.", FutureWarning, "tf2onnx_lib.py", 21,
                               module="keras.src.export.tf2onnx_lib")
        warnings.warn_explicit("In the future `np.object` will be defined", FutureWarning,
                               "train.py", 1, module="train")
    assert [str(w.message) for w in seen] == ["In the future `np.object` will be defined"]


def test_the_tagging_scripts_print_no_tensorflow_line_on_a_keras_run(trained, tmp_path):
    from conftest import shape_image
    import numpy as np

    _, run = trained
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "a.png").write_bytes(shape_image(np.random.default_rng(3), "red", "circle"))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for argv in (["tag.py", str(pics)], ["draw.py", str(pics), "--out", str(tmp_path / "d")],
                 ["test.py", "--min-common", "0", "--quiet"],
                 ["export.py", "--format", "onnx", "--out", str(tmp_path / "onnx")]):
        done = subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:], "--run", str(run)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert not [line for line in done.stderr.splitlines() if TF_LOG.search(line)], done.stderr
        assert not [line for line in done.stdout.splitlines() if TF_LOG.search(line)], done.stdout
