"""FLOPs per picture of an ONNX tagger, counted from its graph, and the machine's fp32 peak,
checked with a large matrix product.

    flops_per_picture("export/model.onnx")   # 1.38e8: convolutions and matrix products
    matmul_rate(threads=1)                    # GFLOP/s of one core on a 2048^2 product

Only convolutions, matrix products and Gemm are counted (2 FLOPs a multiply-add); the
element-wise operations (batch norm, ReLU, additions) are a few percent more and are left
out, as is usual when a network's share of the peak is quoted.
"""
import os
import subprocess
import sys
import time

import numpy as np


def flops_per_picture(model_file):
    """Forward FLOPs of one picture through `model_file`: the shapes of its convolutions and
    matrix products taken from a run of one picture (onnxruntime, with their outputs and
    inputs made graph outputs), so shapes computed at run time (a resize inside) count."""
    import onnx
    import onnxruntime

    model = onnx.load(str(model_file))
    counted = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    known = {o.name for o in model.graph.output}
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    for name in dict.fromkeys(x for n in counted for x in (n.input[0], n.output[0])):
        if name not in known and name not in inits:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    feed = {}
    for value in session.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in value.shape]
        feed[value.name] = np.zeros(shape, np.float32)
    names = [o.name for o in session.get_outputs()]
    shapes = dict(inits)
    shapes.update({n: list(v.shape) for n, v in zip(names, session.run(names, feed))})
    return sum(_node_flops(node, shapes) for node in counted)


def _node_flops(node, shapes):
    if node.op_type == "Conv":
        weight, out = shapes.get(node.input[1]), shapes.get(node.output[0])
        if not weight or not out or 0 in out:
            raise ValueError(f"Conv {node.name}: shapes unknown after shape inference")
        return 2 * int(np.prod(weight[1:])) * int(np.prod(out[1:]))  # per output: Cin/g*kh*kw
    if node.op_type in ("MatMul", "Gemm"):
        a, out = shapes.get(node.input[0]), shapes.get(node.output[0])
        if not a or not out:
            raise ValueError(f"{node.op_type} {node.name}: shapes unknown")
        transposed = node.op_type == "Gemm" and any(
            x.name == "transA" and x.i for x in node.attribute)
        inner = a[-2] if transposed else a[-1]
        return 2 * inner * int(np.prod(out))
    return 0


MATMUL = """import sys, time
import numpy as np
n = int(sys.argv[1])
a, b = (np.random.default_rng(i).random((n, n), dtype=np.float32) for i in (0, 1))
a @ b
best = float("inf")
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - start)
print(2 * n ** 3 / best / 1e9)
"""


def matmul_rate(threads, n=2048, repeats=5):
    """GFLOP/s of NumPy's BLAS on an n x n float32 product with `threads` threads, best of
    `repeats`, in a fresh process (the BLAS reads its thread count when it loads)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", MATMUL, str(n), str(repeats)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(f"{path}: {flops_per_picture(path) / 1e9:.4f} GFLOP per picture")
    start = time.perf_counter()
    print(f"matmul, 1 thread: {matmul_rate(1):.0f} GFLOP/s")
