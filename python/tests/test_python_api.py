"""tflayout.run, the Python API, used the way export pipelines use it.

The package calls the CMake build's libtflayout.so through the C API (TFLAYOUT_LIBRARY, set by
scripts/dev.sh). The installed wheel, in fresh venvs of several CPythons beside PyPI's onnx,
onnxruntime and tensorflow, is tested by scripts/test_dist.sh.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import ct_harness as H

tflayout_api = pytest.importorskip("tflayout.api")


@pytest.fixture(scope="module")
def api():
    try:
        tflayout_api.library_version()
    except ImportError as e:
        pytest.fail(f"libtflayout.so cannot be loaded ({e}); run scripts/dev.sh setup, or set "
                    "TFLAYOUT_LIBRARY to build/libtflayout.so")
    return tflayout_api


def _model_path(name):
    return os.path.join(H.REPO, "models", name + ".onnx")


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_run_accepts_modelproto_bytes_and_path(api):
    path = _model_path("vocoder_upsampler_1d")
    model = onnx.load(path)
    from_proto = api.run(model)
    from_bytes = api.run(model.SerializeToString())
    from_path = api.run(path)
    assert from_proto.SerializeToString() == from_bytes.SerializeToString()
    assert from_proto.SerializeToString() == from_path.SerializeToString()
    keys = [p.key for p in from_proto.metadata_props]
    assert "tflayout.annotation" in keys
    onnx.checker.check_model(from_proto)
    feeds = {"mel": np.random.default_rng(0).standard_normal((1, 32, 20)).astype(np.float32)}
    np.testing.assert_allclose(_ort(from_proto, feeds)[0], _ort(model, feeds)[0], rtol=1e-6, atol=1e-6)


def test_passes_option_and_listing(api):
    names = [name for name, _ in api.list_passes()]
    assert "conv-transpose-to-tf" in names
    out = api.run(_model_path("dcgan_generator"), passes="conv-transpose-to-tf{form=custom-op}")
    ops = {(n.domain, n.op_type) for n in out.graph.node}
    assert ("tflayout", "ConvTransposeTF") in ops
    assert ("", "ConvTranspose") not in ops
    unchanged = api.run(_model_path("dcgan_generator"), passes="")
    with open(_model_path("dcgan_generator"), "rb") as f:
        assert unchanged.SerializeToString() == f.read()


def test_target_picks_the_pipeline_for_the_consumer(api):
    targets = api.target_pipelines()
    assert set(targets) == {"onnxruntime", "onnx-tf", "onnx2tf"}
    assert targets["onnxruntime"] == api.default_pipeline()
    path = _model_path("grouped_deconv")
    assert (api.run(path, target="onnxruntime").SerializeToString()
            == api.run(path).SerializeToString())
    custom = api.run(path, target="onnx-tf")
    assert ("tflayout", "ConvTransposeTF") in {(n.domain, n.op_type) for n in custom.graph.node}
    for_onnx2tf = api.run(path, target="onnx2tf")
    assert all(n.domain == "" for n in for_onnx2tf.graph.node)
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 16, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(_ort(for_onnx2tf, feeds)[0], _ort(onnx.load(path), feeds)[0],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(api.Error, match="unknown target 'tensorrt'"):
        api.run(path, target="tensorrt")
    with pytest.raises(TypeError, match="not both"):
        api.run(path, passes="", target="onnx2tf")


def test_errors_raise_with_the_library_message(api):
    with pytest.raises(api.Error) as info:
        api.run(b"\x08\x07garbage")
    assert info.value.code == 2
    assert "not a valid ONNX model" in str(info.value)
    with pytest.raises(api.Error) as info:
        api.run(_model_path("dcgan_generator"), passes="no-such-pass")
    assert info.value.code == 1
    assert "unknown pass 'no-such-pass'" in str(info.value)
    with pytest.raises(TypeError):
        api.run(42)


def test_external_data_next_to_a_path_is_resolved(api, tmp_path):
    model = onnx.load(_model_path("decoder_3d"))
    onnx.save_model(onnx.load(_model_path("decoder_3d")), str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    out = api.run(str(tmp_path / "ext.onnx"))
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in out.graph.initializer)
    feeds = {"features": np.random.default_rng(1).standard_normal((1, 16, 2, 3, 4)).astype(np.float32)}
    np.testing.assert_allclose(_ort(out, feeds)[0], _ort(model, feeds)[0], rtol=1e-6, atol=1e-6)
    with pytest.raises(api.Error):  # bytes carry no folder: external data is refused
        api.run(onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False))


def test_listings_come_from_the_library(api):
    passes = api.list_passes()
    assert len({name for name, _ in passes}) == len(passes)
    assert all(summary for _, summary in passes)
    names = {name for name, _ in passes}
    assert {step.split("{")[0] for step in api.default_pipeline().split(",")} <= names
    assert api.library_version().count(".") == 2


def test_a_missing_library_is_reported_with_its_path(tmp_path):
    script = ("import tflayout\n"
              "try:\n    tflayout.list_passes()\nexcept ImportError as e:\n    print(e)\n")
    env = dict(os.environ, TFLAYOUT_LIBRARY=str(tmp_path / "libtflayout.so"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert str(tmp_path / "libtflayout.so") in out and "missing" in out
