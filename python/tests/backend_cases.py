"""ONNX backend test cases (model.onnx + test_data_set_0/{input,output}_*.pb) made ready for the
tool: the weights of the operator under test become constants, inputs onnx-tf can feed."""
import glob
import os

import onnx
from onnx import numpy_helper


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
