"""ONNX's own ConvTranspose conformance data through every path.

The onnx wheel ships backend test cases as model.onnx + test_data_set_*/input_*.pb and
output_*.pb: node/test_convtranspose* (IR 6, W and B graph inputs) and the PyTorch exports
pytorch-converted/test_ConvTranspose2d* and pytorch-operator/test_operator_convtranspose (IR 3:
every initializer is also listed as a graph input). For the node tests W (and B) become
initializers fed from the data set; the IR 3 models are taken as shipped.

Every case must give ONNX's expected output through
  (a) the compensate form (default pipeline) in ONNX Runtime,
  (b) the custom-op form through onnx-tf with tflayout's handler,
  (c) the annotation + TF-layout kernel through tf.nn (tflayout.tf_reference),
and (d) conv-transpose-from-tf must restore the weight bit for bit (both forms; the pipeline
without materialize-conv-transpose-dilations, whose inverse is not from-tf's job).
The IR 3 cases need IR < 4 initializers (all listed as graph inputs) to count as constants,
which the tool does.
onnx-tf 1.10 cannot feed a graph input named '0' (the PyTorch exports' input; stock onnx-tf
fails on the unmodified model alike), so path (b) renames such inputs to 'input_0'.
Tolerance: |got - expected| <= 1e-5 * max|expected| + 1e-6 (float32 sums of a few products).
"""
import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import ct_harness as H
from backend_cases import load_case, tf_safe_inputs

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
CASES = sorted(glob.glob(os.path.join(DATA, "node", "test_convtranspose*"))) + \
    sorted(glob.glob(os.path.join(DATA, "pytorch-converted", "test_ConvTranspose*"))) + \
    sorted(glob.glob(os.path.join(DATA, "pytorch-operator", "test_operator_convtranspose*")))
IDS = [os.path.basename(c) for c in CASES]
CUSTOM_NO_DILATION = "resolve-conv-transpose-pads,conv-transpose-to-tf{form=custom-op}"
COMPENSATE_NO_DILATION = "resolve-conv-transpose-pads,conv-transpose-to-tf"


def test_the_wheel_ships_the_cases():
    names = set(IDS)
    assert {"test_convtranspose", "test_convtranspose_1d", "test_convtranspose_3d",
            "test_convtranspose_autopad_same", "test_convtranspose_dilations",
            "test_convtranspose_kernel_shape", "test_convtranspose_output_shape",
            "test_convtranspose_pad", "test_convtranspose_pads", "test_ConvTranspose2d",
            "test_ConvTranspose2d_no_bias", "test_operator_convtranspose"} <= names


def _load_case(case):
    """(model with constant weights, feeds, expected outputs, {weight name: original tensor})."""
    model, feeds, expected, weights, nodes = load_case(case, "ConvTranspose")
    assert len(nodes) == 1 and len(model.graph.node) == 1
    return model, feeds, expected, weights


def _check(got, expected, what):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        g = np.asarray(g)
        assert g.shape == e.shape, f"{what}: shape {g.shape} != expected {e.shape}"
        err = float(np.abs(g.astype(np.float64) - e).max())
        assert err <= 1e-5 * float(np.abs(e).max()) + 1e-6, f"{what}: max error {err:.3g}"


def _run_tool(model, tmp_path, name, passes):
    src, dst = str(tmp_path / f"{name}.in.onnx"), str(tmp_path / f"{name}.out.onnx")
    onnx.save(model, src)
    H.run_tool(src, dst, passes)
    return onnx.load(dst)


def _entries(model):
    from tflayout.annotation import read_annotation
    ann = read_annotation(model) or {"tensors": [], "remarks": []}
    return ann


def _rewritten(model, what):
    ann = _entries(model)
    assert len(ann["tensors"]) == 1, \
        f"{what}: expected one rewritten weight, got {ann['tensors']}; remarks {ann['remarks']}"
    return ann["tensors"][0]


@pytest.fixture(scope="module")
def cases():
    return {os.path.basename(c): _load_case(c) for c in CASES}


@pytest.mark.parametrize("case", IDS)
def test_original_runs_in_ort(case, cases):
    model, feeds, expected, _ = cases[case]
    _check(list(H.ort_run(model, feeds).values()), expected, "ONNX Runtime on the original")


@pytest.mark.parametrize("case", IDS)
def test_a_compensate_form_in_ort(case, cases, tool, tmp_path):
    model, feeds, expected, _ = cases[case]
    out = _run_tool(model, tmp_path, case, H.DEFAULT_PIPELINE)
    entry = _rewritten(out, "compensate")
    assert entry["form"] == "compensate" and entry["tf"]["pads_resolved"]
    onnx.checker.check_model(out)
    _check(list(H.ort_run(out, feeds).values()), expected, "compensate form in ONNX Runtime")


def test_stock_onnx_tf_cannot_feed_an_input_named_0():
    """Why _tf_safe_inputs exists: stock onnx-tf on the unmodified PyTorch export fails to find
    its input '0', before any ConvTranspose handler is involved in the error."""
    import onnx_tf.backend

    case = os.path.join(DATA, "pytorch-converted", "test_ConvTranspose2d")
    model = onnx.load(os.path.join(case, "model.onnx"))
    x = numpy_helper.to_array(onnx.load_tensor(os.path.join(case, "test_data_set_0",
                                                            "input_0.pb")))
    assert model.graph.input[0].name == "0"
    with pytest.raises(KeyError):
        onnx_tf.backend.prepare(model, logging_level="ERROR").run({"0": x})


@pytest.mark.parametrize("case", IDS)
def test_b_custom_op_through_onnx_tf(case, cases, tool, tmp_path):
    import tflayout.onnx_tf_handler  # noqa: F401  registers tflayout.ConvTransposeTF
    import onnx_tf.backend

    model, feeds, expected, _ = cases[case]
    out = _run_tool(model, tmp_path, case, H.CUSTOM_PIPELINE)
    _rewritten(out, "custom-op")
    assert [n.op_type for n in out.graph.node] == ["ConvTransposeTF"]
    feeds = tf_safe_inputs(out, feeds)
    rep = onnx_tf.backend.prepare(out, logging_level="ERROR")
    got = rep.run(feeds)
    _check([got[o.name] for o in out.graph.output], expected, "custom-op form through onnx-tf")


@pytest.mark.parametrize("case", IDS)
def test_c_annotation_and_tf_layout_kernel_through_tf_nn(case, cases, tool, tmp_path):
    from tflayout.tf_reference import conv_transpose_from_annotation

    model, feeds, expected, _ = cases[case]
    out = _run_tool(model, tmp_path, case, H.DEFAULT_PIPELINE)
    entry = _rewritten(out, "compensate")
    inits = {t.name: numpy_helper.to_array(t) for t in out.graph.initializer}
    node = [n for n in out.graph.node if n.op_type == "ConvTranspose"][0]
    bias = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
    x = feeds[node.input[0]]
    got = conv_transpose_from_annotation(entry, inits[entry["tensor"]], bias, x)
    _check([got], expected, "annotation + tf.nn")


@pytest.mark.parametrize("form", ["compensate", "custom-op"])
@pytest.mark.parametrize("case", IDS)
def test_d_from_tf_restores_the_weight_bit_for_bit(case, form, cases, tool, tmp_path):
    model, feeds, expected, weights = cases[case]
    passes = COMPENSATE_NO_DILATION if form == "compensate" else CUSTOM_NO_DILATION
    out = _run_tool(model, tmp_path, case, passes)
    entry = _rewritten(out, form)
    (name, original), = weights.items()
    assert entry["source"] == name and name not in {t.name for t in out.graph.initializer}
    back = _run_tool(out, tmp_path, case + ".back", "conv-transpose-from-tf")
    restored = {t.name: t for t in back.graph.initializer}[name]
    assert list(restored.dims) == list(original.dims)
    assert numpy_helper.to_array(restored).tobytes() == numpy_helper.to_array(original).tobytes()
    assert not _entries(back)["tensors"]
    _check(list(H.ort_run(back, feeds).values()), expected, "restored model in ONNX Runtime")
