"""The export pipeline end to end, as docs/api.md's recipe tells people to run it:

PyTorch model -> torch.onnx.export -> tflayout.run (Python API, custom-op form)
  -> onnx-tf with tflayout's handler -> TF SavedModel -> the same outputs as PyTorch.

This replaces the hand-written "transpose the weights with numpy" step.
"""
import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
api = pytest.importorskip("tflayout.api")

TF_PIPELINE = ("resolve-conv-transpose-pads,materialize-conv-transpose-dilations,"
               "conv-transpose-to-tf{form=custom-op}")


class Upsampler(torch.nn.Module):
    """Grouped, dilated, asymmetric-output ConvTransposes: what stock converters get wrong."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, groups=2),
            torch.nn.BatchNorm2d(16),
            torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, dilation=2),
            torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(8, 3, 3, stride=1, padding=1, groups=1),
            torch.nn.Tanh(),
        )

    def forward(self, x):
        return self.body(x)


def test_pytorch_to_tf_savedmodel_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    net = Upsampler().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        net.body[1].running_mean.uniform_(-0.5, 0.5)
        net.body[1].running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 8, 6, 5)
    with torch.no_grad():
        expected = net(x).numpy()

    onnx_path = tmp_path / "upsampler.onnx"
    torch.onnx.export(net, (x,), str(onnx_path), opset_version=13, input_names=["x"],
                      output_names=["y"], do_constant_folding=True)
    model = api.run(str(onnx_path), passes=TF_PIPELINE)
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert ops.count(("tflayout", "ConvTransposeTF")) == 3
    assert ("", "Transpose") not in ops  # no weight transposes left for TF to run

    import tflayout.onnx_tf_handler  # noqa: F401  registers the handler before prepare()
    import onnx_tf.backend
    import tensorflow as tf

    saved = tmp_path / "saved_model"
    onnx_tf.backend.prepare(model).export_graph(str(saved))
    loaded = tf.saved_model.load(str(saved))
    got = loaded.signatures["serving_default"](x=tf.constant(x.numpy()))["y"].numpy()
    assert got.shape == expected.shape
    scale = float(np.max(np.abs(expected)))
    assert float(np.max(np.abs(got - expected))) <= 1e-4 * scale
