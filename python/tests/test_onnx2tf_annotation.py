"""Annotations that survive other tools: the default output folded by the real onnxsim (as
onnx2tf runs it), then conv-transpose-from-tf and a re-run of the default pipeline.

Runs in .venv-onnx2tf (scripts/dev.sh test), driving tflayout through tflayout-opt.
"""
import json
import os
import subprocess

import numpy as np
import onnx
import pytest

import ct_harness as H

onnxsim = pytest.importorskip("onnxsim")
import onnxruntime as ort  # noqa: E402

MODELS = ["dcgan_generator", "vocoder_upsampler_1d", "decoder_3d", "grouped_deconv", "unet_decoder"]


def _annotation(model):
    for kv in model.metadata_props:
        if kv.key == "tflayout.annotation":
            return json.loads(kv.value)
    return {"tensors": [], "remarks": []}


def _feeds(model):
    rng = np.random.default_rng(0)
    inits = {i.name for i in model.graph.initializer}
    return {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
            .astype(np.float32) for i in model.graph.input if i.name not in inits}


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _opt(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


@pytest.mark.parametrize("name", MODELS)
def test_from_tf_and_rerun_after_onnxsim_folded_the_output(tool, models_dir, tmp_path, name):
    src = os.path.join(models_dir, name + ".onnx")
    rewritten = str(tmp_path / "rewritten.onnx")
    assert _opt(tool, src, "-o", rewritten, "-q").returncode == 0
    nodes = sum(n.op_type == "ConvTranspose" for n in onnx.load(src).graph.node)
    assert len(_annotation(onnx.load(rewritten)).get("tensors", [])) == nodes

    folded, ok = onnxsim.simplify(onnx.load(rewritten))
    assert ok
    # onnxsim folds W__tf + Transpose back into one ONNX-layout constant and keeps the
    # (now stale) annotation: this is the state the other tools leave.
    assert not any(n.op_type == "Transpose" for n in folded.graph.node)
    assert len(_annotation(folded).get("tensors", [])) == nodes
    folded_path = str(tmp_path / "folded.onnx")
    onnx.save(folded, folded_path)

    # conv-transpose-from-tf used to fail: "'main.0.weight__tf' is not defined" (exit 3).
    back = str(tmp_path / "back.onnx")
    run = _opt(tool, folded_path, "-o", back, "--passes=conv-transpose-from-tf")
    assert run.returncode == 0, run.stderr
    assert "annotation record dropped" in run.stderr
    back_model = onnx.load(back)
    assert _annotation(back_model).get("tensors", []) == []
    feeds = _feeds(back_model)
    ref = _ort(onnx.load(src), feeds)
    for got, want in zip(_ort(back_model, feeds), ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    # A re-run leaves one record per ConvTranspose (it used to leave the stale ones too), and a
    # third run changes nothing.
    again = str(tmp_path / "again.onnx")
    assert _opt(tool, folded_path, "-o", again, "-q").returncode == 0
    again_model = onnx.load(again)
    records = _annotation(again_model).get("tensors", [])
    assert len(records) == nodes
    assert len({r["node"] for r in records}) == nodes
    for got, want in zip(_ort(again_model, feeds), ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    third = str(tmp_path / "third.onnx")
    assert _opt(tool, again, "-o", third, "-q").returncode == 0
    with open(again, "rb") as a, open(third, "rb") as b:
        assert a.read() == b.read()
