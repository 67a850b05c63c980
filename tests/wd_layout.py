"""WD-layout taggers built for the tests from a run's wd14 export (no public model can be
downloaded here): its network, with output columns picked and relabelled into categories and
ratings, as a selected_tags.csv folder or as a cl_tagger folder (model_optimized.onnx fed
BGR NCHW in [-1, 1], giving logits, with tag_mapping.json)."""
import csv
import json
import shutil

import numpy as np

# The wd14 export's outputs: 4 rating columns (always 0), then the shape tags.
RED, BLUE, CIRCLE, SQUARE = 4, 5, 6, 7
# (name, WD category code, export column): two ratings that follow the background colour,
# the colours as general and copyright, circle as a character.
ROWS = [("general", "9", RED), ("sensitive", "9", BLUE),
        ("red_background", "0", RED), ("blue_background", "3", BLUE),
        ("circle", "4", CIRCLE), ("square", "0", SQUARE)]
MAPPING_NAMES = {"0": "General", "1": "Artist", "3": "Copyright", "4": "Character",
                 "5": "Meta", "9": "Rating"}


def _const(graph, name, value):
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def _picked_model(export, columns, logits=False, nchw=False):
    """The export's model.onnx giving only `columns` of its scores (as logits with `logits`),
    fed NCHW in [-1, 1] with `nchw`."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(export / "model.onnx"))
    graph = model.graph
    scores = graph.output[0].name
    nodes = [helper.make_node("Gather", [scores, _const(graph, "t_columns", np.array(columns))],
                              ["t_picked"], axis=1)]
    last = "t_picked"
    if logits:
        low = _const(graph, "t_low", np.float32(1e-6))
        high = _const(graph, "t_high", np.float32(1 - 1e-6))
        one = _const(graph, "t_one", np.float32(1.0))
        nodes += [helper.make_node("Max", [last, low], ["t_a"]),
                  helper.make_node("Min", ["t_a", high], ["t_p"]),
                  helper.make_node("Sub", [one, "t_p"], ["t_q"]),
                  helper.make_node("Div", ["t_p", "t_q"], ["t_odds"]),
                  helper.make_node("Log", ["t_odds"], ["t_logits"])]
        last = "t_logits"
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(last, TensorProto.FLOAT,
                                                      ["n", len(columns)]))
    if nchw:
        original = graph.input[0]
        side = original.type.tensor_type.shape.dim[1].dim_value
        front = [helper.make_node("Add", ["pixels", _const(graph, "t_plus", np.float32(1))],
                                  ["t_shifted"]),
                 helper.make_node("Mul", ["t_shifted", _const(graph, "t_half", np.float32(127.5))],
                                  ["t_bytes"]),
                 helper.make_node("Transpose", ["t_bytes"], [original.name], perm=[0, 2, 3, 1])]
        for node in reversed(front):
            graph.node.insert(0, node)
        del graph.input[0]
        graph.input.insert(0, helper.make_tensor_value_info("pixels", TensorProto.FLOAT,
                                                            ["n", 3, side, side]))
    onnx.checker.check_model(model)
    return model


def wd_folder(export, folder, rows=ROWS, thresholds=True):
    """A selected_tags.csv folder of `rows` (name, code, export column)."""
    import onnx

    folder.mkdir(parents=True)
    onnx.save(_picked_model(export, [c for _, _, c in rows]), str(folder / "model.onnx"))
    with open(folder / "selected_tags.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["tag_id", "name", "category", "count"])
        out.writerows([i, name, code, 0] for i, (name, code, _) in enumerate(rows))
    if thresholds:
        shutil.copyfile(export / "thresholds.csv", folder / "thresholds.csv")
    return folder


def cl_folder(export, folder, rows=ROWS, thresholds=True):
    """The same tagger in the cl_tagger layout: model_optimized.onnx + tag_mapping.json."""
    import onnx

    folder.mkdir(parents=True)
    model = _picked_model(export, [c for _, _, c in rows], logits=True, nchw=True)
    onnx.save(model, str(folder / "model_optimized.onnx"))
    mapping = {str(i): {"tag": name, "category": MAPPING_NAMES[code]}
               for i, (name, code, _) in enumerate(rows)}
    (folder / "tag_mapping.json").write_text(json.dumps(mapping, indent=2), encoding="utf-8")
    if thresholds:
        shutil.copyfile(export / "thresholds.csv", folder / "thresholds.csv")
    return folder
