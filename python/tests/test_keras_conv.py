"""tflayout.keras hands Conv, DepthwiseConv and Dense kernels: a torch network (strided Conv,
depthwise Conv with a multiplier, grouped 1x1 Conv, Linear) exported to ONNX, rewritten by
conv-to-tf (compensate form, and custom-op form with gemm-to-tf: --target=onnx-tf), then rebuilt by hand in
Keras from conv_layers / dense_layers, must compute what ONNX Runtime computes on the original
export; the raw export gives the same kernels."""
import numpy as np
import onnx
import pytest

import ct_harness as H


def _export(tmp_path):
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.dw = torch.nn.Conv2d(8, 16, 3, padding=(1, 2), groups=8, dilation=(1, 2))
            self.g = torch.nn.Conv2d(16, 12, 1, groups=4, bias=False)
            self.fc = torch.nn.Linear(12, 5)

        def forward(self, x):
            x = torch.relu(self.a(x))
            x = torch.relu(self.dw(x))
            x = self.g(x).mean(dim=(2, 3))
            return self.fc(x)

    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    path = str(tmp_path / "net.onnx")
    torch.onnx.export(Net().eval(), x, path, opset_version=13, input_names=["x"],
                      output_names=["y"])
    return path, x.numpy()


def _keras_forward(convs, dense, x_nchw):
    import tensorflow as tf
    h = tf.constant(np.transpose(x_nchw, (0, 2, 3, 1)))
    for i, spec in enumerate(convs):
        for layer in spec.build_layers():
            h = layer(h)
        if i < 2:
            h = tf.nn.relu(h)
    h = tf.reduce_mean(h, axis=(1, 2))
    return dense.build_layer()(h).numpy()


@pytest.mark.parametrize("form", ["compensate", "custom-op"])
def test_keras_model_from_rewritten_and_raw_export(form, tool, tmp_path):
    from tflayout.keras import conv_layers, dense_layers

    src, x = _export(tmp_path)
    dst = str(tmp_path / "out.onnx")
    if form == "compensate":
        H.run_tool(src, dst, "conv-to-tf")
    else:
        H.run_tool(src, dst, None, ["--target=onnx-tf"])
    original, rewritten = onnx.load(src), onnx.load(dst)
    want_op = "Conv" if form == "compensate" else "ConvTF"
    assert [n.op_type for n in rewritten.graph.node if "Conv" in n.op_type] == [want_op] * 3
    expected = list(H.ort_run(original, {"x": x}).values())[0]
    convs = conv_layers(rewritten)
    assert [c.depthwise for c in convs] == [False, True, False]
    assert convs[1].depthwise_kernel.shape == (3, 3, 8, 2)
    assert all(c.weight.endswith("__tf") for c in convs)
    (dense,) = dense_layers(rewritten)
    assert dense.kernel.shape == (12, 5)
    # --target=onnx-tf stores the Linear's weight as the Dense kernel (gemm-to-tf).
    assert dense.weight.endswith("__tf") == (form == "custom-op")
    assert dense.kernel.tobytes() == dense_layers(original)[0].kernel.tobytes()
    got = _keras_forward(convs, dense, x)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    raw = conv_layers(original)
    for a, b in zip(raw, convs):
        assert a.kernel.tobytes() == b.kernel.tobytes()
