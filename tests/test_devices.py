"""--device: where a tagger runs, said in the first line; never a silent fall back to the CPU."""
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper
from PIL import Image

import tag
from tagger.infer import devices
from tagger.infer.backends import open_tagger

CPU = "CPUExecutionProvider"


def colour_tagger(folder, size=8):
    """An ONNX-layout tagger made by hand (no training): red, green and blue, each scored by
    its channel's mean brightness, fed RGB 0..255 at `size` px."""
    folder.mkdir()
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2], keepdims=0),
             helper.make_node("Div", ["mean", "full"], ["scores"])]
    graph = helper.make_graph(
        nodes, "colours", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                         ["n", size, size, 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("full", TensorProto.FLOAT, [], [255.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, folder / "model.onnx")
    (folder / "dic.txt").write_text("red\ngreen\nblue\n")
    return folder


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    for name, colour in (("r", (250, 10, 10)), ("g", (10, 250, 10))):
        Image.new("RGB", (20, 16), colour).save(folder / f"{name}.png")
    return folder


def tag_with(pictures, tagger, *flags):
    return tag.main([str(pictures), "--run", str(tagger), "--threshold", "0.5", "--workers", "0",
                     *flags])


def test_cpu_runs_and_the_first_line_says_so(tmp_path, pictures, capsys):
    result = tag_with(pictures, colour_tagger(tmp_path / "t"), "--device", "cpu")
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "tagging on the CPU (onnxruntime CPUExecutionProvider)"
    assert result["tagged"] == 2
    assert (pictures / "r.txt").read_text() == "red\n"
    assert (pictures / "g.txt").read_text() == "green\n"


def test_auto_takes_the_best_installed_provider_and_says_which(tmp_path, pictures, capsys):
    tag_with(pictures, colour_tagger(tmp_path / "t"))  # --device auto is the default
    best = devices.pick_provider("auto", onnxruntime.get_available_providers())
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("tagging on ") and first.endswith(f"(onnxruntime {best})")
    if onnxruntime.get_device() == "CPU":  # this machine, and CI: onnxruntime's CPU wheel
        assert first == "tagging on the CPU (onnxruntime CPUExecutionProvider)"


def test_auto_prefers_a_gpu_and_never_picks_azure():
    assert devices.pick_provider("auto", ["AzureExecutionProvider", CPU]) == CPU
    assert devices.pick_provider("auto", ["CUDAExecutionProvider", CPU]) == "CUDAExecutionProvider"
    assert devices.pick_provider("auto", ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                          CPU]) == "CUDAExecutionProvider"
    assert devices.pick_provider("auto", ["DmlExecutionProvider", CPU]) == "DmlExecutionProvider"


@pytest.mark.parametrize("device, package", [("cuda", "onnxruntime-gpu"),
                                             ("directml", "onnxruntime-directml"),
                                             ("openvino", "onnxruntime-openvino"),
                                             ("rocm", "onnxruntime-rocm")])
def test_a_missing_provider_is_one_line_naming_its_package(tmp_path, pictures, capsys,
                                                           device, package):
    if devices.PROVIDERS[device] in onnxruntime.get_available_providers():
        pytest.skip(f"this onnxruntime has {devices.PROVIDERS[device]}")
    with pytest.raises(SystemExit) as stopped:
        tag_with(pictures, colour_tagger(tmp_path / "t"), "--device", device)
    err = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(err.splitlines()) == 1
    assert f"pip install {package}" in err and "--device cpu" in err
    assert not list(pictures.glob("*.txt"))  # nothing captioned on the CPU instead


def test_a_provider_that_fails_to_start_is_refused_not_replaced(tmp_path, monkeypatch):
    """onnxruntime-gpu without CUDA's libraries lists CUDAExecutionProvider, then runs on
    the CPU and only logs it: the session's providers are checked after it starts."""
    tagger = colour_tagger(tmp_path / "t")
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", CPU])
    with pytest.raises(devices.DeviceError, match="could not start it.*onnxruntime-gpu"):
        open_tagger(tagger, "cuda")
    auto = open_tagger(tagger, "auto")  # auto may fall back, and its line says where it runs
    assert devices.describe(auto) == "tagging on the CPU (onnxruntime CPUExecutionProvider)"
    scores = auto.predict(np.full((1, 8, 8, 3), 255, np.uint8))
    assert np.allclose(scores, 1)


def test_keras_runs_take_cpu_or_cuda_only():
    with pytest.raises(devices.DeviceError, match="export it .*--format onnx"):
        devices.use_keras_device("directml")
    devices.use_keras_device("cpu")  # hides any GPU; on this machine there is none
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(devices.DeviceError, match=r"tensorflow\[and-cuda\]"):
            devices.use_keras_device("cuda")


def test_device_is_a_choice_answered_before_anything_loads(capsys):
    with pytest.raises(SystemExit) as stopped:
        tag.parse_args(["pics", "--device", "tpu"])
    assert stopped.value.code == 2 and "invalid choice: 'tpu'" in capsys.readouterr().err
