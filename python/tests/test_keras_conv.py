"""tflayout.keras hands Conv, DepthwiseConv and Dense kernels: a torch network (strided Conv,
depthwise Conv with a multiplier, grouped 1x1 Conv, Linear) exported to ONNX, rewritten by
conv-to-tf (compensate form, and custom-op form with gemm-to-tf: --target=onnx-tf), then rebuilt by hand in
Keras from conv_layers / dense_layers, must compute what ONNX Runtime computes on the original
export; the raw export gives the same kernels. A whole torchvision ResNet-18 ports its weights
the same way into a ResNet-18 written by hand in Keras."""
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


def _keras_resnet18(convs, dense, x_nchw):
    """torchvision's ResNet-18, written by hand in Keras, with the 20 Conv kernels (batch norm
    folded in by the exporter) and the Dense kernel from tflayout.keras, in export order:
    stem, then per BasicBlock conv1, conv2 and, where the block downsamples, its 1x1 conv."""
    import tensorflow as tf
    layers = iter(convs)

    def conv(h):
        for layer in next(layers).build_layers():
            h = layer(h)
        return h

    h = tf.constant(np.transpose(x_nchw, (0, 2, 3, 1)))
    h = tf.nn.relu(conv(h))
    # Max pool 3x3 / 2 with one pixel of padding: after the ReLU, zero padding is -inf padding.
    h = tf.keras.layers.MaxPool2D(3, 2)(tf.keras.layers.ZeroPadding2D(1)(h))
    for stage in range(4):
        for block in range(2):
            y = tf.nn.relu(conv(h))
            y = conv(y)
            shortcut = conv(h) if stage > 0 and block == 0 else h
            h = tf.nn.relu(y + shortcut)
    h = tf.reduce_mean(h, axis=(1, 2))
    return dense.build_layer()(h).numpy()


def test_torchvision_resnet18_weights_port_to_a_hand_written_keras_model(tool, tmp_path):
    from backend_cases import torchvision_export
    from tflayout.keras import conv_layers, dense_layers

    model, feeds = torchvision_export("resnet18", tmp_path)
    src, dst = str(tmp_path / "resnet18.onnx"), str(tmp_path / "resnet18.tf.onnx")
    onnx.save(model, src)
    H.run_tool(src, dst, None, ["--target=onnx-tf"])
    rewritten = onnx.load(dst)
    convs, (dense,) = conv_layers(rewritten), dense_layers(rewritten)
    assert len(convs) == 20 and all(c.weight.endswith("__tf") for c in convs)
    assert dense.weight.endswith("__tf") and dense.kernel.shape == (512, 1000)
    expected = list(H.ort_run(model, feeds).values())[0]
    got = _keras_resnet18(convs, dense, feeds["x"])
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
