"""ONNX's own Gemm conformance data and torchvision exports through gemm-to-tf.

Cases from the onnx wheel's backend data (and Debian's libonnx-testdata when installed, same
layout): pytorch-converted test_Linear (torch's Linear: transB=1) and the node tests test_gemm_*
(B a graph input with data in the data set: made an initializer, and C with it). Cases with no
Gemm node are not cases of this pass (test_Linear_no_bias is Transpose + MatMul: folding a
constant's Transpose is constant folding's job). Every case must
  (a) have every B read with transB=1 rewritten by gemm-to-tf to (K, N) read with transB=0
      (B read with transB=0 already is the Dense layout and stays as it is), pass ONNX's
      checker and give ONNX's expected output in ONNX Runtime (opset 6, which ONNX Runtime
      does not implement: in ONNX's reference evaluator),
  (b) give it through onnx-tf with --target=onnx-tf,
  (c) get every weight and transB back bit for bit from conv-transpose-from-tf.
Torch exports of torchvision resnet18 and mobilenet_v2 (random weights) go through
--target=onnx-tf: every Conv and Gemm weight rewritten (Conv: custom-op form, tflayout.ConvTF
reading the TF-layout weight), onnx-tf with tflayout's handler giving the original model's ONNX
Runtime output (1e-4 relative: summation order), the inverse bit for bit and, back in standard
ops, the same output in ONNX Runtime (which cannot run the custom op).
"""
import glob
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import ct_harness as H
from backend_cases import (annotation_of, assert_restored, check_outputs, load_case, run_tool_on,
                           tf_safe_inputs, torchvision_export)

ROOTS = [os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")]
if os.path.isdir("/usr/share/onnx/backend/test/data"):
    ROOTS.append("/usr/share/onnx/backend/test/data")
PATTERNS = [("pytorch-converted", "test_Linear*"), ("node", "test_gemm_*")]
CASES = {}
for root in ROOTS:
    for folder, pattern in PATTERNS:
        for case in sorted(glob.glob(os.path.join(root, folder, pattern))):
            CASES.setdefault(os.path.basename(case), case)
CASES = {name: case for name, case in CASES.items()
         if any(n.op_type == "Gemm" for n in onnx.load(os.path.join(case, "model.onnx")).graph.node)}
IDS = sorted(CASES)


def test_the_data_has_the_cases():
    assert {"test_Linear", "test_gemm_all_attributes",
            "test_gemm_transposeA", "test_gemm_transposeB",
            "test_gemm_default_no_bias"} <= set(IDS)


def _trans_b(node):
    return next((a.i for a in node.attribute if a.name == "transB"), 0)


@pytest.fixture(scope="module")
def cases():
    out = {}
    for name in IDS:
        model, feeds, expected, originals, nodes = load_case(CASES[name], "Gemm")
        transposed = {n.input[1] for n in nodes if _trans_b(n)}
        out[name] = (model, feeds, expected, originals, transposed)
    return out


def _ort_check(model, out, feeds, expected, what):
    """`out`'s ONNX Runtime output against the expected one. ONNX Runtime implements Gemm from
    opset 7 only (test_Linear is opset 6): when it cannot run the original model either, `out`
    must fail the same way there and is checked with ONNX's reference evaluator instead."""
    try:
        H.ort_run(model, feeds)
    except Exception as e:  # noqa: BLE001  ONNX Runtime's own limit, not the rewrite's
        with pytest.raises(type(e)):
            H.ort_run(out, feeds)
        from onnx.reference import ReferenceEvaluator
        check_outputs(ReferenceEvaluator(model).run(None, feeds), expected, "original, reference")
        check_outputs(ReferenceEvaluator(out).run(None, feeds), expected, f"{what} (reference evaluator)")
        return
    check_outputs(list(H.ort_run(out, feeds).values()), expected, what)


def _assert_rewritten(out, originals, want, op_type, what):
    """Exactly the weights `want` rewritten (for `op_type`), each the transposed original,
    read by nodes that now say so (Gemm: transB=0)."""
    ann = annotation_of(out)
    entries = [e for e in ann["tensors"] if e.get("op_type") == op_type]
    assert {e["source"] for e in entries} == set(want), \
        f"{what}: rewrote {sorted(e['source'] for e in entries)}; remarks {ann['remarks']}"
    inits = {t.name: t for t in out.graph.initializer}
    nodes = {n.name: n for n in out.graph.node}
    for entry in entries:
        tf = numpy_helper.to_array(inits[entry["tensor"]])
        want_tf = np.transpose(numpy_helper.to_array(originals[entry["source"]]), entry["perm"])
        assert tf.shape == want_tf.shape and tf.tobytes() == want_tf.tobytes()
        node = nodes[entry["node"]]
        if op_type == "Gemm":
            assert node.input[1] == entry["tensor"] and _trans_b(node) == 0
        elif entry["form"] == "custom-op":  # Conv: tflayout.ConvTF reads the tensor directly
            assert (node.domain, node.op_type) == ("tflayout", "ConvTF"), node.name
            assert node.input[1] == entry["tensor"], node.name
        else:  # Conv, compensate form: a Conv reads the source, our Transpose of the tensor
            assert node.op_type == "Conv" and node.input[1] == entry["source"], node.name


def _assert_restored(back, originals, want_trans_b=None):
    assert_restored(back, originals)
    if want_trans_b is not None:
        assert [_trans_b(n) for n in back.graph.node if n.op_type == "Gemm"] == want_trans_b


@pytest.mark.parametrize("case", IDS)
def test_a_gemm_to_tf_in_ort(case, cases, tool, tmp_path):
    model, feeds, expected, originals, transposed = cases[case]
    out = run_tool_on(model, tmp_path, case, "gemm-to-tf")
    _assert_rewritten(out, originals, transposed, "Gemm", case)
    onnx.checker.check_model(out)
    _ort_check(model, out, feeds, expected, "gemm-to-tf in ONNX Runtime")


@pytest.mark.parametrize("case", IDS)
def test_b_onnx_tf_target_through_onnx_tf(case, cases, tool, tmp_path):
    import tflayout.onnx_tf_handler  # noqa: F401
    import onnx_tf.backend

    model, feeds, expected, originals, transposed = cases[case]
    out = run_tool_on(model, tmp_path, case, extra=["--target=onnx-tf"])
    _assert_rewritten(out, originals, transposed, "Gemm", case)
    original = onnx.ModelProto()
    original.CopyFrom(model)
    original_feeds = tf_safe_inputs(original, dict(feeds))
    try:
        onnx_tf.backend.prepare(original, logging_level="ERROR").run(original_feeds)
    except Exception as e:  # noqa: BLE001  stock onnx-tf's own limit, not the rewrite's
        with pytest.raises(type(e)):
            onnx_tf.backend.prepare(out, logging_level="ERROR").run(tf_safe_inputs(out, feeds))
        pytest.xfail(f"stock onnx-tf fails on the original model too: {str(e).splitlines()[-1]}")
    feeds = tf_safe_inputs(out, dict(feeds))
    got = onnx_tf.backend.prepare(out, logging_level="ERROR").run(feeds)
    check_outputs([got[o.name] for o in out.graph.output], expected, "--target=onnx-tf through onnx-tf")


@pytest.mark.parametrize("case", IDS)
def test_c_inverse_restores_every_weight_bit_for_bit(case, cases, tool, tmp_path):
    model, feeds, expected, originals, _ = cases[case]
    out = run_tool_on(model, tmp_path, case, "gemm-to-tf")
    back = run_tool_on(out, tmp_path, case + ".back", "conv-transpose-from-tf")
    _assert_restored(back, originals,
                     [_trans_b(n) for n in model.graph.node if n.op_type == "Gemm"])
    _ort_check(model, back, feeds, expected, "restored model in ONNX Runtime")


def test_a_linear_on_a_graph_input_from_ir4_is_left_alone_with_a_remark(tool, tmp_path):
    """From IR 4 an initializer listed as a graph input is an overridable default."""
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "W")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["X", "W"], ["Y"], name="fc", transB=1)], "g",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("W", onnx.TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [2, 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    out = run_tool_on(model, tmp_path, "ir8_input", "gemm-to-tf")
    ann = annotation_of(out)
    assert not ann["tensors"]
    assert any(r["tensor"] == "W" and "graph input" in r["message"] for r in ann["remarks"]), ann
    out = run_tool_on(model, tmp_path, "ir8_input_const", "gemm-to-tf{initializers-as-inputs=constant}")
    _assert_rewritten(out, {"W": w}, {"W"}, "Gemm", "initializers-as-inputs=constant")
    onnx.checker.check_model(out)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_export_every_conv_and_gemm_weight(name, tool, tmp_path):
    model, feeds = torchvision_export(name, tmp_path)
    by_op = {op: {n.input[1] for n in model.graph.node if n.op_type == op}
             for op in ("Conv", "Gemm")}
    assert len(by_op["Conv"]) > 10 and len(by_op["Gemm"]) == 1
    inits = {t.name: t for t in model.graph.initializer}
    originals = {w: inits[w] for ws in by_op.values() for w in ws}
    expected = list(H.ort_run(model, feeds).values())
    out = run_tool_on(model, tmp_path, name, extra=["--target=onnx-tf"])
    for op, weights in by_op.items():
        _assert_rewritten(out, originals, weights, op, f"{name} {op}")
    assert {e["form"] for e in annotation_of(out)["tensors"] if e["op_type"] == "Conv"} == \
        {"custom-op"}
    onnx.checker.check_model(out)
    import tflayout.onnx_tf_handler  # noqa: F401
    import onnx_tf.backend
    got = onnx_tf.backend.prepare(out, logging_level="ERROR").run(tf_safe_inputs(out, dict(feeds)))
    check_outputs([got[o.name] for o in out.graph.output], expected,
           f"{name} --target=onnx-tf through onnx-tf", rel=1e-4)
    back = run_tool_on(out, tmp_path, name + ".back", "conv-transpose-from-tf")
    assert not [n.name for n in back.graph.node if n.domain == "tflayout"]
    _assert_restored(back, originals)
    check_outputs(list(H.ort_run(back, feeds).values()), expected, f"{name} restored", rel=1e-4)


@pytest.mark.parametrize("mode", ["output", "in-place"])
def test_external_data_gemm_weights_match_the_embedded_rewrite(mode, tool, tmp_path):
    """Weights in an external data file go through the tool's file-to-file and in-place paths
    (the weight store): the same bytes as rewriting the model in memory."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((n, k)).astype(np.float32), f"W{i}")
               for i, (n, k) in enumerate([(640, 512), (384, 640)])]
    nodes = [helper.make_node("Gemm", ["X", "W0"], ["H"], name="fc0", transB=1),
             helper.make_node("Gemm", ["H", "W1"], ["Y"], name="fc1", transB=1)]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [2, 512])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [2, 384])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    embedded = run_tool_on(model, tmp_path, "embedded", "gemm-to-tf")
    feeds = {"X": rng.standard_normal((2, 512)).astype(np.float32)}
    expected = list(H.ort_run(model, feeds).values())

    src = str(tmp_path / "ext.onnx")
    onnx.save(model, src, save_as_external_data=True, location="ext.onnx.data",
              size_threshold=0)
    if mode == "output":
        dst = str(tmp_path / "ext.out.onnx")
        H.run_tool(src, dst, "gemm-to-tf")
    else:
        dst = src
        subprocess.run([H.tool_path(), "--in-place", src, "-q", "--passes=gemm-to-tf"],
                       check=True)
    out = onnx.load(dst)
    got = {t.name: numpy_helper.to_array(t).tobytes() for t in out.graph.initializer}
    want = {t.name: numpy_helper.to_array(t).tobytes() for t in embedded.graph.initializer}
    assert got == want
    check_outputs(list(H.ort_run(out, feeds).values()), expected, f"external data ({mode})")
