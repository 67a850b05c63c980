"""Where a tagger runs (`--device`): an onnxruntime execution provider for ONNX taggers, the
CPU or the GPUs TensorFlow sees for Keras runs; never a silent fall back to the CPU.

    session = onnx_session("model.onnx", options, "auto")   # DeviceError: one line to act on
    print(describe(tagger))   # "tagging on the CPU (onnxruntime CPUExecutionProvider)"

`auto` takes the best provider this onnxruntime has (CUDA, ROCm, DirectML, CoreML, OpenVINO,
then the CPU). A device asked for by name that this onnxruntime lacks, or whose libraries fail
to load (onnxruntime itself would fall back to the CPU and only log it), is refused in one line
that names the package to install.
"""

from ..core.cli import DEVICES  # the --device choices, spelled once
PROVIDERS = {"cuda": "CUDAExecutionProvider", "rocm": "ROCMExecutionProvider",
             "directml": "DmlExecutionProvider", "coreml": "CoreMLExecutionProvider",
             "openvino": "OpenVINOExecutionProvider", "cpu": "CPUExecutionProvider"}
AUTO_ORDER = ("cuda", "rocm", "directml", "coreml", "openvino", "cpu")  # best first
PACKAGES = {"cuda": "onnxruntime-gpu (Linux or Windows with an NVIDIA GPU, CUDA 12 and cuDNN 9)",
            "rocm": "onnxruntime-rocm (Linux with an AMD GPU and ROCm)",
            "directml": "onnxruntime-directml (Windows, any DirectX 12 GPU)",
            "coreml": "onnxruntime (macOS: its default wheel has CoreML)",
            "openvino": "onnxruntime-openvino (Intel CPUs and GPUs)",
            "cpu": "onnxruntime"}
WHERE = {"cpu": "the CPU", "cuda": "the GPU with CUDA", "rocm": "the GPU with ROCm",
         "directml": "the GPU with DirectML", "coreml": "Apple's GPU or Neural Engine with CoreML",
         "openvino": "an Intel device with OpenVINO"}
DOC = "docs/install.md#gpus-and-other-devices"


class DeviceError(ValueError):
    """A device that cannot be had: one line naming what to install or pass instead."""


def device_of(provider):
    """The --device name of an onnxruntime provider name (None for one this module does not use)."""
    return next((d for d, p in PROVIDERS.items() if p == provider), None)


def pick_provider(device, available):
    """The provider name to ask onnxruntime for, from the `available` ones; ValueError (one
    line naming the package to install, a DeviceError) when `device` needs one that is missing."""
    if device not in DEVICES:
        raise DeviceError(f"--device {device}: choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return next(PROVIDERS[d] for d in AUTO_ORDER if PROVIDERS[d] in available or d == "cpu")
    if PROVIDERS[device] not in available:
        raise DeviceError(missing(device, available))
    return PROVIDERS[device]


def missing(device, available, why="lacks it"):
    """The one line for a provider this onnxruntime lacks or cannot start."""
    have = ", ".join(p for p in available if p != "AzureExecutionProvider") or "none"
    swap = ("pip uninstall -y onnxruntime && " if device not in ("cpu", "coreml") else "")
    return (f"--device {device} needs onnxruntime's {PROVIDERS[device]}, and this onnxruntime "
            f"{why} (it has: {have}): install {PACKAGES[device]}: {swap}pip install "
            f"{PACKAGES[device].split()[0]} (see {DOC}), or pass --device cpu")


def onnx_session(model_file, options, device="auto"):
    """An onnxruntime.InferenceSession on `device`, checked to really run there."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    provider = pick_provider(device, available)
    providers = [provider] if provider == PROVIDERS["cpu"] else [provider, PROVIDERS["cpu"]]
    session = onnxruntime.InferenceSession(str(model_file), options, providers=providers)
    running = session.get_providers()[0]
    if running != provider and device != "auto":
        raise DeviceError(missing(device, available, why="could not start it (its libraries "
                                 "failed to load; onnxruntime would have used the CPU)"))
    return session


def describe(tagger):
    """The first line of a tagging run: where `tagger` runs."""
    session = getattr(tagger, "session", None)
    if session is not None and hasattr(session, "get_providers"):
        running = session.get_providers()[0]
        where = WHERE.get(device_of(running), running)
        return f"tagging on {where} (onnxruntime {running})"
    if type(tagger).__name__ == "LiteRtRun":
        return "tagging on the CPU (LiteRT)"
    gpus = keras_gpus()
    if gpus:
        return f"tagging on the GPU (TensorFlow, {len(gpus)} GPU{'s' * (len(gpus) > 1)})"
    return "tagging on the CPU (TensorFlow)"


def keras_gpus():
    """The GPUs TensorFlow will use ([] without TensorFlow, or with them hidden)."""
    try:
        import tensorflow as tf
    except ImportError:
        return []
    return tf.config.get_visible_devices("GPU")


def use_keras_device(device):
    """Make TensorFlow run a Keras tagger on `device` (before the model loads): `cpu` hides the
    GPUs, `cuda` needs one, `auto` uses them when TensorFlow sees any; DeviceError otherwise."""
    if device not in DEVICES:
        raise DeviceError(f"--device {device}: choose one of {', '.join(DEVICES)}")
    if device not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"--device {device} is an onnxruntime provider, and this is a Keras "
                         f"run: export it (python export.py --run RUN --format onnx) and tag "
                         f"the export, or pass --device cpu or cuda")
    try:
        import tensorflow as tf
    except ImportError:
        return  # load_run says in one line that this Python has no TensorFlow
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cuda" and not gpus:
        raise DeviceError(f"--device cuda: TensorFlow sees no GPU (on Linux: pip install "
                         f"'tensorflow[and-cuda]'; see {DOC}), or pass --device cpu")
    if device == "cpu" and gpus:
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # TensorFlow already started on them in this process
            raise DeviceError("--device cpu: TensorFlow already runs on the GPU in this "
                             "process; start a new one with --device cpu") from None
