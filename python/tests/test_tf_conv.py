"""tflayout.tf_ops.conv (what the onnx-tf handler for tflayout.ConvTF computes) against ONNX
Runtime's Conv on generated configurations the conformance data do not cover: SAME_UPPER and
SAME_LOWER with odd total pads, asymmetric explicit pads, groups and depthwise (with a
multiplier) in 1-D, 2-D and 3-D, dilations with strides > 1, and spatial dims unknown until run
time (tf.function with None dims). The kernel is given in TF layout, transposed once here from
ONNX layout: the op itself never transposes a weight.
ONNX Runtime refuses dilations with SAME_UPPER/SAME_LOWER ("Dilation not supported"): those
cases are checked against onnx.reference, whose SAME pads use the dilated kernel
((k-1)*d+1), as tf_ops.same_pads does.
Tolerance: 1e-5 x max|expected| + 1e-6 (float32, summation order)."""
import numpy as np
import onnx
import pytest
from onnx import helper

import ct_harness as H

# (name, spatial input, C, M, group, kernel, strides, dilations, pads or auto_pad)
CASES = [
    ("1d_plain", [9], 3, 4, 1, [3], [1], [1], [0, 0]),
    ("1d_groups_stride_dilation", [11], 4, 6, 2, [3], [2], [2], [1, 2]),
    ("1d_depthwise_same_lower", [10], 3, 6, 3, [4], [3], [1], "SAME_LOWER"),
    ("2d_asymmetric_pads", [7, 8], 2, 3, 1, [3, 2], [2, 1], [1, 1], [1, 0, 2, 1]),
    ("2d_depthwise_multiplier_dilated_strided", [9, 10], 4, 8, 4, [3, 3], [2, 2], [2, 1],
     [1, 1, 1, 1]),
    ("2d_groups_same_upper_odd", [8, 9], 6, 4, 2, [4, 3], [3, 2], [1, 1], "SAME_UPPER"),
    ("2d_same_upper_dilated", [8, 9], 2, 4, 1, [3, 2], [2, 1], [2, 3], "SAME_UPPER"),
    ("1d_same_lower_dilated", [10], 2, 2, 1, [3], [1], [2], "SAME_LOWER"),
    ("2d_depthwise_same_lower", [7, 7], 3, 3, 3, [2, 2], [1, 1], [1, 1], "SAME_LOWER"),
    ("2d_valid", [6, 5], 2, 2, 1, [3, 3], [1, 2], [1, 1], "VALID"),
    ("3d_groups_dilated_strided", [7, 6, 8], 4, 4, 2, [2, 3, 2], [2, 1, 2], [2, 1, 2],
     [0, 1, 1, 1, 0, 1]),
    ("3d_depthwise_same_upper", [5, 6, 7], 2, 4, 2, [3, 2, 3], [2, 2, 1], [1, 1, 1],
     "SAME_UPPER"),
]


def _onnx_conv(x_shape, w, b, group, strides, dilations, pads):
    attrs = dict(group=group, strides=strides, dilations=dilations,
                 kernel_shape=list(w.shape[2:]))
    if isinstance(pads, str):
        attrs["auto_pad"] = pads
    else:
        attrs["pads"] = pads
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _expected(model, x, pads, dilations):
    if isinstance(pads, str) and pads.startswith("SAME") and any(d > 1 for d in dilations):
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(model).run(None, {"x": x})[0]
    return list(H.ort_run(model, {"x": x}).values())[0]


def _case(spatial, c, m, group, kernel):
    rng = np.random.default_rng(len(spatial) * 100 + c * 10 + m)
    x = rng.standard_normal([2, c] + spatial).astype(np.float32)
    w = rng.standard_normal([m, c // group] + kernel).astype(np.float32)
    b = rng.standard_normal([m]).astype(np.float32)
    n = len(kernel)
    w_tf = np.ascontiguousarray(np.transpose(w, list(range(2, n + 2)) + [1, 0]))
    return x, w, b, w_tf


def _settings(pads, n, strides, dilations, group):
    explicit = not isinstance(pads, str)
    return dict(strides=strides, dilations=dilations, group=group,
                pads_begin=pads[:n] if explicit else None,
                pads_end=pads[n:] if explicit else None,
                auto_pad="NOTSET" if explicit else pads)


def _close(got, want):
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert err <= 1e-5 * float(np.abs(want).max()) + 1e-6, err


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conv_equals_onnx_runtime(case):
    from tflayout.tf_ops import conv

    _, spatial, c, m, group, kernel, strides, dilations, pads = case
    x, w, b, w_tf = _case(spatial, c, m, group, kernel)
    want = _expected(_onnx_conv(list(x.shape), w, b, group, strides, dilations, pads), x, pads,
                     dilations)
    got = conv(x, w_tf, b, **_settings(pads, len(kernel), strides, dilations, group)).numpy()
    _close(got, want)


@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c[-1], str)],
                         ids=[c[0] for c in CASES if isinstance(c[-1], str)])
def test_same_pads_from_a_shape_known_only_at_run_time(case):
    import tensorflow as tf
    from tflayout.tf_ops import conv

    _, spatial, c, m, group, kernel, strides, dilations, pads = case
    x, w, b, w_tf = _case(spatial, c, m, group, kernel)
    want = _expected(_onnx_conv(list(x.shape), w, b, group, strides, dilations, pads), x, pads,
                     dilations)
    signature = [tf.TensorSpec([None, c] + [None] * len(spatial), tf.float32)]
    fn = tf.function(lambda t: conv(t, w_tf, b, **_settings(pads, len(kernel), strides,
                                                             dilations, group)),
                     input_signature=signature)
    _close(fn(tf.constant(x)).numpy(), want)


def test_unknown_auto_pad_is_refused():
    from tflayout.tf_ops import conv

    x, _, b, w_tf = _case([5], 2, 2, 1, [3])
    with pytest.raises(ValueError, match="auto_pad"):
        conv(x, w_tf, b, auto_pad="SAME")
