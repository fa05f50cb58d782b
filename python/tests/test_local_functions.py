"""Model-local functions (ModelProto.functions) around ConvTranspose, end to end.

torch.onnx.export(..., export_modules_as_functions={Up}) (torch 1.13, opset >= 15) writes the
module as a function of domain "__main__" whose ConvTranspose reads its weight through a
function input bound at the call site. inline-conv-transpose-functions (first in every target
pipeline) inlines those calls so that every weight is stored in TF layout; ONNX Runtime gives
the same output before and after, and onnx-tf with tflayout's handler runs the custom-op form.
Hand-built models (onnx.helper) cover what torch does not write: attribute references with
function defaults (IR 9 attribute_proto), nested functions, omitted optional inputs.
"""
import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ct_harness as H

ROWS = []


def rel_err(want, got):
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    assert want.shape == got.shape, (want.shape, got.shape)
    return float(np.abs(want - got).max() / max(np.abs(want).max(), 1e-30))


def ort_run(path, feeds):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def onnx_tf_run(path, feeds, handler):
    import onnx_tf.backend
    if handler:
        import tflayout.onnx_tf_handler  # noqa: F401  registers tflayout.ConvTransposeTF
    return onnx_tf.backend.prepare(onnx.load(path), logging_level="ERROR").run(feeds)


def run_opt(src, dst, passes, *extra):
    report = dst + ".report.json"
    proc = subprocess.run([H.tool_path(), src, "-o", dst, f"--passes={passes}", "--report", report,
                           *extra], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(report) as f:
        return json.load(f), proc.stdout + proc.stderr


def count_conv_transposes(model):
    in_graph = sum(n.op_type == "ConvTranspose" for n in model.graph.node)
    in_functions = sum(n.op_type == "ConvTranspose" for f in model.functions for n in f.node)
    return in_graph, in_functions


# ---- real torch exports ------------------------------------------------------------------

def export_torch(path, twice, channels=4):
    torch = pytest.importorskip("torch")

    class Up(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ct = torch.nn.ConvTranspose2d(channels, channels if twice else 3, 3, stride=2,
                                               padding=1, output_padding=1)

        def forward(self, x):
            return torch.relu(self.ct(x))

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Up()
            self.a2 = Up() if twice else None  # a second call, other weights
            self.b = torch.nn.ConvTranspose2d(channels if twice else 3, 2, 4, stride=2)

        def forward(self, x):
            y = self.a(x)
            if self.a2 is not None:
                y = self.a2(y)
            return self.b(y)

    torch.manual_seed(0)
    torch.onnx.export(M().eval(), torch.randn(1, channels, 5, 5), path, opset_version=15,
                      input_names=["x"], output_names=["y"], export_modules_as_functions={Up})


@pytest.mark.parametrize("twice", [False, True], ids=["one_call", "two_calls"])
def test_torch_export_modules_as_functions(twice, tmp_path, tool):
    src = str(tmp_path / "fn.onnx")
    export_torch(src, twice)
    original = onnx.load(src)
    in_graph, in_functions = count_conv_transposes(original)
    # The function's domain is the module's Python module name ("__main__" in a script).
    domain = original.functions[0].domain
    calls = sum(n.domain == domain and n.op_type == "Up" for n in original.graph.node)
    assert (in_graph, in_functions, calls) == (1, 1, 2 if twice else 1)
    weights = in_graph + calls * in_functions

    # Without the inlining pass the count is still honest: the body's weights are left alone.
    report, _ = run_opt(src, str(tmp_path / "ct_only.onnx"), "conv-transpose-to-tf")
    assert report["conv_transpose_weights"] == weights
    assert report["weights_rewritten"] == 1
    assert report["weights_left_alone"] == weights - 1
    assert any(f"inside local function '{domain}.Up': run inline-conv-transpose-functions"
               in r["message"] for r in report["remarks"])

    dst = str(tmp_path / "compensate.onnx")
    report, out = run_opt(src, dst, H.DEFAULT_PIPELINE, "--require-all-converted")
    assert f"rewrote {weights} of {weights} ConvTranspose weight(s)" in out
    custom = str(tmp_path / "custom.onnx")
    run_opt(src, custom, H.CUSTOM_PIPELINE, "--require-all-converted")
    for path in (dst, custom):
        assert len(onnx.load(path).functions) == 0
    onnx.checker.check_model(onnx.load(dst))

    feeds = {"x": np.random.default_rng(3).standard_normal((1, 4, 5, 5)).astype(np.float32)}
    want = ort_run(src, feeds)
    ort_err = max(rel_err(w, g) for w, g in zip(want, ort_run(dst, feeds)))
    assert ort_err <= 1e-6
    tf_err = max(rel_err(w, g) for w, g in zip(want, onnx_tf_run(custom, feeds, handler=True)))
    assert tf_err <= 1e-4
    stock_tf_err = max(rel_err(w, g) for w, g in zip(want, onnx_tf_run(dst, feeds, handler=False)))
    assert stock_tf_err <= 1e-4  # stock onnx-tf runs the compensate form
    try:  # what stock onnx-tf makes of the original (recorded, not required)
        stock = max(rel_err(w, g) for w, g in zip(want, onnx_tf_run(src, feeds, handler=False)))
        stock_cell = f"{stock:.1e}"
    except Exception as e:  # noqa: BLE001
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        stock_cell = f"fails: {type(e).__name__}: {lines[-1][:100] if lines else ''}"
    ROWS.append(f"torch {'two calls' if twice else 'one call'}: weights {weights}, ORT {ort_err:.1e}, "
                f"onnx-tf handler custom-op {tf_err:.1e}, stock onnx-tf compensate "
                f"{stock_tf_err:.1e}, stock onnx-tf on the original: {stock_cell}")
    print("\n" + ROWS[-1])


# ---- hand-built functions (what torch does not write) --------------------------------------

def weight(name, shape, seed):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def hand_built_model():
    """main: A = local.Outer(X, W1, B1) <s=[2,2]>; Y = local.Up(A, W2) <s=[2,2]> (bias omitted;
    in both calls the default output_padding [1,1] and no pads).
    Outer(x, w, b) <s> = Sigmoid(local.Up(x, w, b) <s=@s>)       (nested, attribute passed on)
    Up(x, w, b) <s, op=[1,1], p> = Relu(ConvTranspose(x, w, b) <strides=@s, output_padding=@op,
                                                                pads=@p>)"""
    up = helper.make_function(
        "local", "Up", ["x", "w", "b"], ["y"],
        [helper.make_node("ConvTranspose", ["x", "w", "b"], ["t"], name="ct"),
         helper.make_node("Relu", ["t"], ["y"], name="relu")],
        [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        attributes=["s", "p"],
        attribute_protos=[helper.make_attribute("op", [1, 1])])
    ct = up.node[0]
    for name, ref in (("strides", "s"), ("output_padding", "op"), ("pads", "p")):
        a = ct.attribute.add()
        a.name, a.ref_attr_name, a.type = name, ref, onnx.AttributeProto.INTS
    outer = helper.make_function(
        "local", "Outer", ["x", "w", "b"], ["y"],
        [helper.make_node("Up", ["x", "w", "b"], ["u"], name="inner", domain="local"),
         helper.make_node("Sigmoid", ["u"], ["y"], name="sig")],
        [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        attributes=["s"])
    s_ref = outer.node[0].attribute.add()
    s_ref.name, s_ref.ref_attr_name, s_ref.type = "s", "s", onnx.AttributeProto.INTS
    graph = helper.make_graph(
        [helper.make_node("Outer", ["X", "W1", "B1"], ["A"], name="/outer", domain="local", s=[2, 2]),
         helper.make_node("Up", ["A", "W2"], ["Y"], name="/up", domain="local", s=[2, 2])],
        "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4, 5, 5])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2, 25, 25])],
        [weight("W1", (4, 3, 3, 3), 1), weight("B1", (3,), 2), weight("W2", (3, 2, 2, 2), 3)])
    return helper.make_model(graph, functions=[up, outer], ir_version=9,
                             opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("local", 1)])


def test_hand_built_functions_match_onnx_runtime(tmp_path, tool):
    src = str(tmp_path / "hand.onnx")
    onnx.save(hand_built_model(), src)
    onnx.checker.check_model(src)
    dst = str(tmp_path / "hand_tf.onnx")
    report, out = run_opt(src, dst, H.DEFAULT_PIPELINE, "--require-all-converted")
    assert "rewrote 2 of 2 ConvTranspose weight(s)" in out
    result = onnx.load(dst)
    assert len(result.functions) == 0
    feeds = {"X": np.random.default_rng(5).standard_normal((1, 4, 5, 5)).astype(np.float32)}
    want = ort_run(src, feeds)
    got = ort_run(dst, feeds)
    assert want[0].shape == (1, 2, 25, 25)  # output_padding 1 (the default) in both calls
    err = rel_err(want[0], got[0])
    assert err <= 1e-6
    ROWS.append(f"hand-built (attribute refs, default, nested, omitted bias): ORT {err:.1e}")
    print("\n" + ROWS[-1])


def test_torch_export_with_large_weights_streams_like_in_memory(tmp_path, tool):
    """Weights of >= 1 MiB stay in the file while the passes run (weights on disk): the streamed
    output equals the in-memory one byte for byte, and ONNX Runtime agrees."""
    src = str(tmp_path / "big.onnx")
    export_torch(src, twice=True, channels=256)  # each Up weight 256 x 256 x 3 x 3 floats
    streamed, in_memory = str(tmp_path / "streamed.onnx"), str(tmp_path / "in_memory.onnx")
    _, out = run_opt(src, streamed, H.DEFAULT_PIPELINE, "--require-all-converted")
    assert "rewrote 3 of 3 ConvTranspose weight(s)" in out
    run_opt(src, in_memory, H.DEFAULT_PIPELINE, "--no-stream")
    with open(streamed, "rb") as a, open(in_memory, "rb") as b:
        assert a.read() == b.read()
    feeds = {"x": np.random.default_rng(4).standard_normal((1, 256, 5, 5)).astype(np.float32)}
    assert rel_err(ort_run(src, feeds)[0], ort_run(streamed, feeds)[0]) <= 1e-6
