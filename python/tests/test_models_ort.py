"""Every model in models/: the compensate form (default pipeline) is valid ONNX, ONNX Runtime
gives the original's output, the annotation agrees with the initializers, the pipeline is
deterministic and idempotent, and conv-transpose-from-tf restores the original weight bytes."""
import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import ct_harness as H
from tflayout.annotation import read_annotation

MODELS = sorted(glob.glob(os.path.join(H.REPO, "models", "*.onnx")))
IDS = [os.path.basename(m)[:-5] for m in MODELS]


def _feeds(model_path, seed=0):
    import onnxruntime as ort
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}


@pytest.fixture(scope="module")
def processed(tool, tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("models")
    for path, name in zip(MODELS, IDS):
        comp = str(d / f"{name}.compensate.onnx")
        H.run_tool(path, comp)
        out[name] = comp
    return out


def test_models_present():
    assert len(MODELS) >= 5, MODELS


@pytest.mark.parametrize("path", MODELS, ids=IDS)
def test_ort_original_vs_compensate(path, processed):
    name = os.path.basename(path)[:-5]
    feeds = _feeds(path)
    want = H.ort_run(onnx.load(path), feeds)
    got = H.ort_run(onnx.load(processed[name]), feeds)
    assert want.keys() == got.keys()
    for k in want:
        assert got[k].shape == want[k].shape
        scale = max(np.abs(want[k]).max(), 1e-30)
        assert np.abs(got[k] - want[k]).max() <= 1e-6 * scale, k


@pytest.mark.parametrize("path", MODELS, ids=IDS)
def test_checker_and_annotation(path, processed):
    name = os.path.basename(path)[:-5]
    original = onnx.load(path)
    m = onnx.load(processed[name])
    onnx.checker.check_model(m, full_check=True)
    ann = read_annotation(m)
    assert ann is not None and ann["schema_version"] >= 1 and ann["tool_version"]
    inits = {i.name: i for i in m.graph.initializer}
    orig_inits = {i.name: i for i in original.graph.initializer}
    n_ct = sum(1 for n in original.graph.node if n.op_type == "ConvTranspose")
    assert len(ann["tensors"]) == n_ct
    for e in ann["tensors"]:
        assert e["form"] == "compensate"
        r = len(e["tf_dims"])
        assert e["perm"] == list(range(2, r)) + [1, 0]
        assert list(inits[e["tensor"]].dims) == e["tf_dims"]
        assert [e["onnx_dims"][p] for p in e["perm"]] == e["tf_dims"]
        assert e["storage"] == "initializer" and e["data_type"] == inits[e["tensor"]].data_type
        assert e["tf"]["pads_resolved"] is True
        # the TF-layout values are the ONNX weight permuted (dilations may be materialized,
        # in which case the source is the materialized weight, not in the original model)
        producer = [n for n in m.graph.node if e["source"] in n.output]
        assert producer and producer[0].op_type == "Transpose"
        inv = [a.ints for a in producer[0].attribute if a.name == "perm"][0]
        assert list(inv) == [r - 1, r - 2] + list(range(r - 2))
        w = numpy_helper.to_array(orig_inits[e["source"]])
        if list(w.shape) != e["onnx_dims"]:
            # materialize-conv-transpose-dilations replaced it by the zero-inserted kernel
            node = [n for n in original.graph.node if n.name == e["node"]][0]
            d = [a.ints for a in node.attribute if a.name == "dilations"][0]
            big = np.zeros(e["onnx_dims"], w.dtype)
            big[(slice(None), slice(None)) + tuple(slice(None, None, k) for k in d)] = w
            w = big
        np.testing.assert_array_equal(numpy_helper.to_array(inits[e["tensor"]]),
                                      np.transpose(w, e["perm"]))


@pytest.mark.parametrize("path", MODELS, ids=IDS)
def test_deterministic_and_idempotent(path, processed, tmp_path):
    name = os.path.basename(path)[:-5]
    again = str(tmp_path / "again.onnx")
    H.run_tool(path, again)
    first = open(processed[name], "rb").read()
    assert open(again, "rb").read() == first, "two runs on the same input differ"
    second = str(tmp_path / "second.onnx")
    H.run_tool(processed[name], second)
    assert open(second, "rb").read() == first, "running the pipeline on its output changed it"


@pytest.mark.parametrize("form", ["compensate", "custom-op"])
@pytest.mark.parametrize("path", MODELS, ids=IDS)
def test_from_tf_restores_weights(path, form, tmp_path):
    fwd = str(tmp_path / "fwd.onnx")
    back = str(tmp_path / "back.onnx")
    # without materialize-conv-transpose-dilations, so every weight is the original one
    H.run_tool(path, fwd, f"resolve-conv-transpose-pads,conv-transpose-to-tf{{form={form}}}")
    H.run_tool(fwd, back, "conv-transpose-from-tf")
    orig = {i.name: i for i in onnx.load(path).graph.initializer}
    got = {i.name: i for i in onnx.load(back).graph.initializer}
    for node in onnx.load(path).graph.node:
        if node.op_type != "ConvTranspose":
            continue
        w = node.input[1]
        assert w in got, f"{w} not restored"
        assert got[w].dims == orig[w].dims and got[w].data_type == orig[w].data_type
        assert numpy_helper.to_array(got[w]).tobytes() == numpy_helper.to_array(orig[w]).tobytes()
    m_back = onnx.load(back)
    assert not [n for n in m_back.graph.node if n.domain == "tflayout"]
    feeds = _feeds(path)
    want = H.ort_run(onnx.load(path), feeds)
    have = H.ort_run(m_back, feeds)
    for k in want:
        np.testing.assert_allclose(have[k], want[k], rtol=0, atol=1e-6 * np.abs(want[k]).max())
