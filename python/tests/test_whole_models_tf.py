"""Whole models through TensorFlow: ONNX Runtime on the original vs onnx-tf with tflayout's
handler on the custom-op form of the default pipeline (resolve pads, materialize dilations,
conv-transpose-to-tf{form=custom-op}). Float32; tolerance 1e-4 x max|reference|."""
import os

import numpy as np
import onnx
import pytest

import ct_harness as H

MODELS = ["dcgan_generator", "unet_decoder", "vocoder_upsampler_1d", "decoder_3d", "grouped_deconv"]


@pytest.mark.parametrize("name", MODELS)
def test_onnx_tf_custom_op_matches_ort(name, tool, tmp_path):
    import onnxruntime as ort
    import tflayout.onnx_tf_handler  # noqa: F401  registers tflayout.ConvTransposeTF
    import onnx_tf.backend

    src = os.path.join(H.REPO, "models", f"{name}.onnx")
    dst = str(tmp_path / f"{name}.custom.onnx")
    H.run_tool(src, dst, H.CUSTOM_PIPELINE)
    m = onnx.load(dst)
    custom = [n for n in m.graph.node if n.domain == "tflayout"]
    original_ct = [n for n in onnx.load(src).graph.node if n.op_type == "ConvTranspose"]
    assert len(custom) == len(original_ct) and all(n.op_type == "ConvTransposeTF" for n in custom)
    assert not [n for n in m.graph.node if n.op_type == "ConvTranspose"]
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
    want = sess.run(None, feeds)
    rep = onnx_tf.backend.prepare(m, logging_level="ERROR")
    got = rep.run(feeds)
    for w, g in zip(want, got):
        g = np.asarray(g)
        assert g.shape == w.shape
        err = np.abs(g - w).max() / np.abs(w).max()
        assert err <= 1e-4, f"relative error {err:.3g}"
