"""ONNX's own Conv conformance data and torchvision exports through conv-to-tf.

Cases from the onnx wheel's backend data (and Debian's libonnx-testdata when installed, same
layout): pytorch-converted test_Conv1d*, test_Conv2d* (groups, depthwise, depthwise with a
multiplier), test_Conv3d* (IR 3: every initializer also a graph input, so a constant), and the
node tests test_conv_with_* (W a graph input with data in the data set: made an initializer).
Every case must
  (a) have every Conv weight rewritten by conv-to-tf and give ONNX's expected output in ONNX
      Runtime (compensate form),
  (b) give it through onnx-tf with --target=onnx-tf (custom-op form: every Conv a
      tflayout.ConvTF reading its TF-layout weight, run by tflayout.onnx_tf_handler) -- also
      where stock onnx-tf fails on the unmodified model (strides > 1 with dilations > 1,
      SAME_LOWER): the handler computes those, so the test asserts the result there too and
      records stock onnx-tf's failure on the original in the test's output,
  (c) get every weight back bit for bit from conv-transpose-from-tf, still computing the
      expected output.
Torch exports of torchvision resnet18 and mobilenet_v2 (random weights, depthwise Convs in the
latter) go through (a) and (c) against the original model's ONNX Runtime output.
Tolerance: |got - expected| <= 1e-5 * max|expected| + 1e-6 for the conformance data (as
test_onnx_node_tests.py), 1e-4 relative for the deep networks (summation order).
"""
import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import ct_harness as H
from backend_cases import (annotation_of, assert_restored, check_outputs, load_case, run_tool_on,
                           tf_safe_inputs, torchvision_export)

ROOTS = [os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")]
if os.path.isdir("/usr/share/onnx/backend/test/data"):
    ROOTS.append("/usr/share/onnx/backend/test/data")
PATTERNS = [("pytorch-converted", "test_Conv1d*"), ("pytorch-converted", "test_Conv2d*"),
            ("pytorch-converted", "test_Conv3d*"), ("node", "test_conv_*")]
CASES = {}
for root in ROOTS:
    for folder, pattern in PATTERNS:
        for case in sorted(glob.glob(os.path.join(root, folder, pattern))):
            CASES.setdefault(os.path.basename(case), case)
IDS = sorted(CASES)


def test_the_data_has_the_cases():
    assert {"test_Conv1d", "test_Conv1d_groups", "test_Conv2d_depthwise",
            "test_Conv2d_depthwise_with_multiplier", "test_Conv2d_groups", "test_Conv3d",
            "test_Conv3d_groups", "test_conv_with_autopad_same",
            "test_conv_with_strides_padding"} <= set(IDS)


def _load_case(case):
    return load_case(case, "Conv")[:4]


def _assert_all_rewritten(out, originals, what):
    ann = annotation_of(out)
    sources = {e["source"] for e in ann["tensors"] if e.get("op_type") == "Conv"}
    assert sources == set(originals), f"{what}: rewrote {sources}; remarks {ann['remarks']}"
    inits = {t.name: t for t in out.graph.initializer}
    for entry in ann["tensors"]:
        original = originals[entry["source"]]
        tf = numpy_helper.to_array(inits[entry["tensor"]])
        want = np.transpose(numpy_helper.to_array(original), entry["perm"])
        assert tf.shape == want.shape and tf.tobytes() == want.tobytes()


@pytest.fixture(scope="module")
def cases():
    return {name: _load_case(CASES[name]) for name in IDS}


@pytest.mark.parametrize("case", IDS)
def test_a_compensate_form_in_ort(case, cases, tool, tmp_path):
    model, feeds, expected, originals = cases[case]
    check_outputs(list(H.ort_run(model, feeds).values()), expected, "original in ONNX Runtime")
    out = run_tool_on(model, tmp_path, case, "conv-to-tf")
    _assert_all_rewritten(out, originals, case)
    onnx.checker.check_model(out)
    check_outputs(list(H.ort_run(out, feeds).values()), expected, "compensate form in ONNX Runtime")


@pytest.mark.parametrize("case", IDS)
def test_b_onnx_tf_target_through_onnx_tf(case, cases, tool, tmp_path):
    import tflayout.onnx_tf_handler  # noqa: F401
    import onnx_tf.backend

    model, feeds, expected, originals = cases[case]
    out = run_tool_on(model, tmp_path, case, extra=["--target=onnx-tf"])
    _assert_all_rewritten(out, originals, case)
    _assert_custom_op_form(out, case)
    got = onnx_tf.backend.prepare(out, logging_level="ERROR").run(tf_safe_inputs(out, feeds))
    check_outputs([got[o.name] for o in out.graph.output], expected, "--target=onnx-tf through onnx-tf")
    stock = _stock_onnx_tf_failure(model, feeds)
    if stock:
        print(f"{case}: stock onnx-tf fails on the original model ({stock}); "
              "the custom-op form through tflayout's handler gives the expected output")


def _assert_custom_op_form(out, what):
    """Every Conv became tflayout.ConvTF reading its recorded TF-layout tensor; no Transpose
    compensates, and the model imports the tflayout domain."""
    nodes = {n.name: n for n in out.graph.node}
    assert not [n.name for n in out.graph.node if n.op_type == "Conv"], what
    assert not [n.name for n in out.graph.node if n.op_type == "Transpose"], what
    for entry in annotation_of(out)["tensors"]:
        node = nodes[entry["node"]]
        assert entry["form"] == "custom-op", (what, entry)
        assert (node.domain, node.op_type) == ("tflayout", "ConvTF"), (what, node.name)
        assert node.input[1] == entry["tensor"], (what, node.name)
    assert ("tflayout", 1) in {(o.domain, o.version) for o in out.opset_import}, what


def _stock_onnx_tf_failure(model, feeds):
    """Stock onnx-tf's error on the unmodified model, "" when it runs it."""
    import onnx_tf.backend
    original = onnx.ModelProto()
    original.CopyFrom(model)
    try:
        onnx_tf.backend.prepare(original, logging_level="ERROR").run(
            tf_safe_inputs(original, dict(feeds)))
    except Exception as e:  # noqa: BLE001  stock onnx-tf's own limit
        return str(e).splitlines()[-1] if str(e) else type(e).__name__
    return ""


@pytest.mark.parametrize("case", IDS)
def test_c_inverse_restores_every_weight_bit_for_bit(case, cases, tool, tmp_path):
    model, feeds, expected, originals = cases[case]
    out = run_tool_on(model, tmp_path, case, "conv-to-tf")
    back = run_tool_on(out, tmp_path, case + ".back", "conv-transpose-from-tf")
    assert_restored(back, originals)
    check_outputs(list(H.ort_run(back, feeds).values()), expected, "restored model in ONNX Runtime")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_export_every_conv_weight(name, tool, tmp_path):
    model, feeds = torchvision_export(name, tmp_path)
    weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    originals = {t.name: t for t in model.graph.initializer if t.name in weights}
    assert len(originals) == len(weights) > 10
    expected = list(H.ort_run(model, feeds).values())
    out = run_tool_on(model, tmp_path, name, "conv-to-tf")
    _assert_all_rewritten(out, originals, name)
    check_outputs(list(H.ort_run(out, feeds).values()), expected, f"{name} compensate form", rel=1e-4)
    back = run_tool_on(out, tmp_path, name + ".back", "conv-transpose-from-tf")
    assert_restored(back, originals)
