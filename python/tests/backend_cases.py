"""ONNX backend test cases (model.onnx + test_data_set_0/{input,output}_*.pb) made ready for the
tool: the weights of the operator under test become constants, inputs onnx-tf can feed; and
what the conformance suites share: running the tool, comparing outputs, reading annotations,
exporting torchvision networks."""
import glob
import os

import numpy as np
import onnx
from onnx import numpy_helper

import ct_harness as H


def _tensors(case, kind):
    files = sorted(glob.glob(os.path.join(case, "test_data_set_0", f"{kind}_*.pb")))
    return [numpy_helper.to_array(onnx.load_tensor(f)) for f in files]


def load_case(case, op_type):
    """(model, feeds, expected outputs, {weight name: original initializer}, op nodes).

    Node tests feed W (and B) from the data set: those inputs of the `op_type` nodes become
    initializers. IR 3 models list every initializer as a graph input: taken as shipped."""
    model = onnx.load(os.path.join(case, "model.onnx"))
    arrays, expected = _tensors(case, "input"), _tensors(case, "output")
    inits = {t.name for t in model.graph.initializer}
    fed = [i for i in model.graph.input if i.name not in inits]
    assert len(fed) == len(arrays)
    feeds = dict(zip([i.name for i in fed], arrays))
    nodes = [n for n in model.graph.node if n.op_type == op_type]
    assert nodes
    for node in nodes:
        for name in node.input[1:]:
            if name in feeds:
                model.graph.initializer.append(numpy_helper.from_array(feeds.pop(name), name))
                keep = [i for i in model.graph.input if i.name != name]
                del model.graph.input[:]
                model.graph.input.extend(keep)
    weights = {n.input[1] for n in nodes}
    originals = {t.name: t for t in model.graph.initializer if t.name in weights}
    return model, feeds, expected, originals, nodes


def tf_safe_inputs(model, feeds):
    """Graph inputs renamed to Python identifiers ('0' -> 'input_0'): onnx-tf 1.10 feeds inputs
    as tf.function parameters, which TF renames ('0' -> 'arg_0'), and then cannot find them
    (test_onnx_node_tests.py: test_stock_onnx_tf_cannot_feed_an_input_named_0)."""
    renames = {i.name: f"input_{i.name}" for i in model.graph.input
               if i.name in feeds and not i.name.isidentifier()}
    for i in model.graph.input:
        i.name = renames.get(i.name, i.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(v, v) for v in node.input]
    return {renames.get(k, k): v for k, v in feeds.items()}


def check_outputs(got, expected, what, rel=1e-5):
    """Each output within rel * max|expected| + 1e-6 of ONNX's expected one."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        g = np.asarray(g)
        assert g.shape == e.shape, f"{what}: shape {g.shape} != expected {e.shape}"
        err = float(np.abs(g.astype(np.float64) - e).max())
        assert err <= rel * float(np.abs(e).max()) + 1e-6, f"{what}: max error {err:.3g}"


def run_tool_on(model, tmp_path, name, passes=None, extra=()):
    """tflayout-opt on `model` (saved under tmp_path), the output loaded."""
    src, dst = str(tmp_path / f"{name}.in.onnx"), str(tmp_path / f"{name}.out.onnx")
    onnx.save(model, src)
    H.run_tool(src, dst, passes, extra)
    return onnx.load(dst)


def annotation_of(model):
    from tflayout.annotation import read_annotation
    return read_annotation(model) or {"tensors": [], "remarks": []}


def assert_restored(back, originals):
    """Every original weight back under its name, bit for bit, and no record left."""
    inits = {t.name: t for t in back.graph.initializer}
    for name, original in originals.items():
        restored = inits[name]
        assert list(restored.dims) == list(original.dims)
        assert numpy_helper.to_array(restored).tobytes() == \
            numpy_helper.to_array(original).tobytes()
    assert not annotation_of(back)["tensors"]


def torchvision_export(name, tmp_path):
    """torchvision's `name` with random weights (seed 0), exported at opset 13 for a 64x64
    input; (model, feeds)."""
    import pytest
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    path = str(tmp_path / f"{name}.onnx")
    torch.onnx.export(net, x, path, opset_version=13, input_names=["x"], output_names=["y"])
    return onnx.load(path), {"x": x.numpy()}
