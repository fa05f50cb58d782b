"""tflayout.keras: Keras layers built from the reported settings and kernels reproduce ONNX
Runtime on the original model; what Keras cannot express is reported with a reason."""
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import ct_harness as H
from tflayout.keras import conv_transpose_layers

CASES = {
    # name: (rank, C, M, group, kernel, strides, dilations, in, output_padding, padding attrs)
    "2d-asym-pads-op": (2, 3, 4, 1, [3, 4], [2, 3], [1, 1], [4, 3], [1, 2], dict(pads=[0, 2, 2, 1])),
    "2d-same-upper": (2, 2, 3, 1, [4, 4], [2, 2], [1, 1], [3, 3], [0, 0], dict(auto_pad="SAME_UPPER")),
    "2d-same-lower-odd": (2, 2, 3, 1, [4, 3], [1, 2], [1, 1], [3, 3], [0, 1], dict(auto_pad="SAME_LOWER")),
    "2d-dilated-strided": (2, 3, 2, 1, [3, 2], [2, 3], [2, 3], [3, 2], [1, 0], dict(pads=[1, 0, 2, 3])),
    "1d-output-shape": (1, 4, 2, 1, [5], [3], [1], [5], [0], dict(output_shape=[15])),
    "3d-pads": (3, 2, 3, 1, [3, 2, 2], [2, 1, 2], [1, 2, 1], [2, 3, 2], [1, 0, 0],
                dict(pads=[1, 0, 0, 0, 1, 1])),
    "2d-group2": (2, 4, 6, 2, [3, 3], [2, 2], [1, 1], [3, 3], [1, 1], dict(pads=[1, 1, 1, 1])),
    # negative total padding: SAME with strides above the kernel (ONNX Runtime: the full result)
    "2d-same-upper-stride-above-kernel": (2, 2, 3, 1, [1, 2], [3, 4], [1, 1], [3, 2], [0, 1],
                                          dict(auto_pad="SAME_UPPER")),
    "1d-same-lower-stride-above-kernel": (1, 3, 2, 1, [2], [3], [1], [4], [0],
                                          dict(auto_pad="SAME_LOWER")),
    # output_shape past the full result: bias-only positions at the end (Keras output_padding)
    "2d-output-shape-past-full": (2, 1, 2, 1, [3, 3], [3, 2], [1, 1], [3, 3], [0, 0],
                                  dict(output_shape=[10, 8])),
    "3d-output-shape-past-full": (3, 2, 2, 1, [2, 1, 2], [3, 2, 4], [1, 1, 1], [2, 2, 2],
                                  [1, 0, 0], dict(output_shape=[7, 4, 9], auto_pad="SAME_LOWER")),
}


def _model(case):
    rank, c, m, g, k, s, d, ins, op, pad = case
    rng = np.random.default_rng(11)
    w = rng.standard_normal([c, m // g] + k).astype(np.float32)
    b = rng.standard_normal([m]).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], name="ct", kernel_shape=k,
                            strides=s, dilations=d, group=g, output_padding=op, **pad)
    graph = helper.make_graph(
        [node], "k", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, c] + ins)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    x = rng.standard_normal([1, c] + ins).astype(np.float32)
    return model, x


def _keras_run(spec, x):
    import tensorflow as tf
    n = x.ndim - 2
    y = tf.constant(np.transpose(x, [0] + list(range(2, n + 2)) + [1]))
    for layer in spec.build_layers():
        y = layer(y)
    return np.transpose(y.numpy(), [0, n + 1] + list(range(1, n + 1)))


@pytest.mark.parametrize("source", ["raw", "tflayout"])
@pytest.mark.parametrize("name", list(CASES))
def test_keras_layers_match_ort(name, source, tool, tmp_path):
    model, x = _model(CASES[name])
    want = H.ort_run(model, {"x": x})["y"]
    if source == "tflayout":
        src, dst = str(tmp_path / "in.onnx"), str(tmp_path / "out.onnx")
        onnx.save(model, src)
        H.run_tool(src, dst)
        model = onnx.load(dst)
    (spec,) = conv_transpose_layers(model)
    if CASES[name][3] > 1:
        assert not spec.exact and "group" in spec.reason and "tf.nn.conv2d_transpose" in spec.tf_nn
        assert len(spec.group_kernels) == CASES[name][3]
        # the per-group recipe from the reason: split, one layer per group, concat
        import tensorflow as tf
        cg = x.shape[1] // spec.group
        xs = np.transpose(x, (0, 2, 3, 1))
        outs = []
        for g, kern in enumerate(spec.group_kernels):
            layer = tf.keras.layers.Conv2DTranspose(**{**spec.layer_config, "use_bias": False})
            layer.build((None, None, None, cg))
            layer.set_weights([kern])
            outs.append(layer(xs[..., g * cg:(g + 1) * cg]))
        y = tf.keras.layers.Cropping2D(spec.cropping)(tf.concat(outs, -1)) + spec.bias
        got = np.transpose(y.numpy(), (0, 3, 1, 2))
    else:
        assert spec.exact, spec.reason
        got = _keras_run(spec, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_same_padding_when_equivalent():
    model, _ = _model(CASES["2d-same-upper"])
    (spec,) = conv_transpose_layers(model)
    assert spec.layer_config["padding"] == "same" and spec.cropping is None
    model, _ = _model(CASES["2d-asym-pads-op"])
    (spec,) = conv_transpose_layers(model)
    assert spec.layer_config["padding"] == "valid" and spec.cropping == ((0, 2), (2, 1))
    assert spec.layer_config["output_padding"] == (1, 2)
    assert spec.layer_config["filters"] == 4 and spec.kernel.shape == (3, 4, 4, 3)


@pytest.mark.parametrize("source", ["raw", "tflayout"])
def test_output_shape_a_stride_past_full_is_reported_with_its_recipe(source, tool, tmp_path):
    """Past the full result by the stride or more: Keras' output_padding (< stride) cannot say
    it, so the spec is not exact; its tf.nn recipe (tflayout.tf_ops) matches the NumPy reference
    (ONNX Runtime 1.17.3 miscomputes such nodes: test_resolve_pads.py)."""
    from tflayout.reference import conv_transpose as ref_ct
    from tflayout.tf_ops import conv_transpose as tf_ct
    case = (2, 2, 3, 1, [3, 2], [2, 2], [1, 1], [3, 3], [0, 1], dict(output_shape=[10, 9]))
    model, x = _model(case)
    if source == "tflayout":
        src, dst = str(tmp_path / "in.onnx"), str(tmp_path / "out.onnx")
        onnx.save(model, src)
        H.run_tool(src, dst)
        model = onnx.load(dst)
    (spec,) = conv_transpose_layers(model)
    assert not spec.exact and "output_padding" in spec.reason
    assert list(spec.output_padding) == [3, 3] and list(spec.pads_end) == [0, 0]
    inits = {t.name: numpy_helper.to_array(t) for t in _model(case)[0].graph.initializer}
    want = ref_ct(x.astype(np.float64), inits["W"], inits["B"], strides=[2, 2],
                  dilations=[1, 1], pads_begin=[0, 0], pads_end=[0, 0], output_padding=[3, 3])
    assert want.shape[2:] == (10, 9)
    got = tf_ct(x.astype(np.float64), spec.kernel.astype(np.float64), spec.bias, strides=spec.strides,
                dilations=spec.dilations, pads_begin=spec.pads_begin, pads_end=spec.pads_end,
                output_padding=spec.output_padding, group=spec.group).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_output_padding_ge_stride_is_reported():
    model, _ = _model((1, 2, 2, 1, [3], [1], [3], [4], [2], dict(pads=[0, 0])))
    (spec,) = conv_transpose_layers(model)
    assert not spec.exact and "output_padding" in spec.reason


@pytest.mark.parametrize("name", ["dcgan_generator", "vocoder_upsampler_1d", "decoder_3d",
                                  "unet_decoder", "grouped_deconv"])
def test_models_report(name):
    m = onnx.load(os.path.join(H.REPO, "models", f"{name}.onnx"))
    specs = conv_transpose_layers(m)
    assert len(specs) == sum(n.op_type == "ConvTranspose" for n in m.graph.node)
    for spec, node in zip(specs, [n for n in m.graph.node if n.op_type == "ConvTranspose"]):
        w = numpy_helper.to_array([i for i in m.graph.initializer if i.name == node.input[1]][0])
        if all(d == 1 for d in spec.dilations):
            np.testing.assert_array_equal(spec.kernel, np.transpose(w, list(range(2, w.ndim)) + [1, 0]))
        assert spec.exact == (spec.group == 1), (spec.node, spec.reason)
