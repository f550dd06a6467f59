#!/usr/bin/env python3
"""Runs ONNX models bprop exported through onnxruntime, for tests/io/onnx.rs.

Usage: python3 tests/onnx_check.py MODEL.onnx INPUTS.npy OUTPUTS.npy [MODEL INPUTS OUTPUTS]...

For each triple:
  - checks MODEL with onnx.checker (full_check: the graph's types and shapes too);
  - runs INPUTS (a 2-D .npy array, cast to the graph input's element type; for a graph
    of several inputs, one array per input joined by "+", strings for string inputs)
    through onnxruntime's CPU provider and writes the first output to OUTPUTS (.npy, in
    the graph's precision);
  - prints one JSON line describing the model: IR version, opsets, graph inputs and
    outputs (name, element type, shape with symbolic dimensions as strings), operators,
    initializer names, metadata, the output's dtype, and whether the file's bytes equal
    protobuf's own serialization of the parsed model ("canonical").

Exits 2, saying what to install, when numpy, onnx or onnxruntime is missing: the ONNX
tests fail rather than skip without them.
"""

import json
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:
    sys.stderr.write(
        f"onnx_check.py: {e}. The ONNX tests run onnxruntime from PyPI: "
        "python3 -m pip install onnxruntime numpy onnx\n"
    )
    sys.exit(2)


def dims(value_info):
    return [
        d.dim_param if d.HasField("dim_param") else d.dim_value
        for d in value_info.type.tensor_type.shape.dim
    ]


def describe(vis):
    return [{"name": v.name, "elem_type": v.type.tensor_type.elem_type, "shape": dims(v)} for v in vis]


def check(model_path, inputs_path, outputs_path):
    with open(model_path, "rb") as f:
        data = f.read()
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    feeds = {}
    for feed, path in zip(session.get_inputs(), inputs_path.split("+"), strict=True):
        dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(string)": object}[feed.type]
        feeds[feed.name] = np.load(path).astype(dtype)
    y = session.run(None, feeds)[0]
    np.save(outputs_path, y)

    print(
        json.dumps(
            {
                "model": model_path,
                "ir_version": model.ir_version,
                "opsets": {o.domain: o.version for o in model.opset_import},
                "producer": model.producer_name,
                "inputs": describe(model.graph.input),
                "outputs": describe(model.graph.output),
                "ops": [n.op_type for n in model.graph.node],
                "initializers": [t.name for t in model.graph.initializer],
                "metadata": {p.key: p.value for p in model.metadata_props},
                "output_dtype": str(y.dtype),
                "output_shape": list(y.shape),
                "canonical": data == model.SerializeToString(),
            }
        )
    )


def main(args):
    if not args or len(args) % 3:
        sys.stderr.write(__doc__)
        return 1
    for i in range(0, len(args), 3):
        check(*args[i : i + 3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
