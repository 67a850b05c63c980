"""Writing a Keras model in each export format, and running the written file back.

Each format has a writer (model, folder) that returns the file or folder it wrote, and a
runner (that path) that returns a function from a float32 batch to the list of outputs, so
an export can be checked against Keras before it gets its final name.
"""
import numpy as np

from ..core.folders import ExportFolder

FORMATS = ("wd14", "cl_tagger", "onnx", "litert", "saved_model")


def _input_spec(model):
    import keras

    shape = (None, *model.inputs[0].shape[1:])
    return [keras.InputSpec(shape=shape, dtype="float32", name="input")]


def write_onnx(model, folder):
    """model.onnx through Keras's own ONNX export (tf2onnx), batch size left open."""
    path = ExportFolder(folder).onnx
    model.export(str(path), format="onnx", verbose=False, input_signature=_input_spec(model))
    return path


def write_cl_tagger(model, folder):
    """model_optimized.onnx, NCHW in (tagger.export.cl_tagger)."""
    from .cl_tagger import write_model

    return write_model(model, folder)


def write_litert(model, folder):
    """model.tflite: the LiteRT (TFLite) flatbuffer, float32, through Keras's export."""
    path = ExportFolder(folder).litert
    model.export(str(path), format="litert", verbose=False)
    return path


def write_saved_model(model, folder):
    """A SavedModel with a `serving_default` signature in folder/1, as TF Serving expects."""
    path = ExportFolder(folder).saved_model
    model.export(str(path), format="tf_saved_model", verbose=False,
                 input_signature=_input_spec(model))
    return path


def run_onnx(path):
    from ..infer.onnx_run import onnx_session

    session = onnx_session(path)
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


def run_litert(path):
    from ..infer.litert_run import litert_forward

    return litert_forward(path)


def run_saved_model(path):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def predict(batch):
        out = serve(tf.constant(batch))
        return [out[k].numpy() for k in sorted(out)]

    return predict


WRITERS = {"wd14": write_onnx, "cl_tagger": write_cl_tagger, "onnx": write_onnx,
           "litert": write_litert, "saved_model": write_saved_model}
RUNNERS = {"wd14": run_onnx, "cl_tagger": run_onnx, "onnx": run_onnx, "litert": run_litert,
           "saved_model": run_saved_model}
FOLDED = ("wd14", "cl_tagger")  # the layouts --tuned folds thresholds into


def keras_outputs(model, batch):
    """The Keras model's outputs on a batch, as a list of arrays."""
    out = model(batch, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def max_difference(expected, got):
    """The largest absolute difference between two lists of outputs of the same shapes."""
    if len(expected) != len(got):
        raise ValueError(f"the export gives {len(got)} outputs, Keras {len(expected)}")
    worst = 0.0
    for e, g in zip(expected, got):
        if e.shape != g.shape:
            raise ValueError(f"the export gives an output of shape {g.shape}, Keras {e.shape}")
        gap = np.abs(e.astype(np.float64) - g)
        worst = max(worst, float(np.max(gap)) if np.isfinite(gap).all() else float("inf"))
    return worst
