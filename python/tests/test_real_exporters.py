"""Real exporters end to end: torch.onnx.export (Debian's torch 1.13) of real-world
architectures, ONNX Runtime's QDQ quantization and a float16 conversion, through tflayout-opt.

For every model: the number of ConvTranspose weights rewritten equals the number of
ConvTranspose nodes (initializers kept as graph inputs at IR >= 4 are the documented opt-in:
by default they are left alone with a remark naming the option, and with
conv-transpose-to-tf{initializers-as-inputs=constant} they are all rewritten); ONNX Runtime on
the compensate form equals ONNX Runtime on the original; stock onnx-tf on the compensate form
and onnx-tf + tflayout's handler on the custom-op form equal it wherever stock onnx-tf runs the
original (when it cannot, the table says why). weight_norm / spectral_norm exports without
constant folding also check fold-conv-transpose-weights' values against ONNX Runtime's
evaluation of the same subgraph.

Models are exported once per module into a temporary folder. By default a stratified subset
runs (every architecture at opset 8 (IR 3), 13 with keep_initializers_as_inputs and 17, plus
QDQ and float16); TFLAYOUT_FULL_EXPORTERS=1 runs opsets 8, 9, 13, 17 each with and without
keep_initializers_as_inputs. The table (model, IR/opset, ConvTranspose nodes, rewritten, ONNX
Runtime and onnx-tf max relative errors) is printed (pytest -s) and written to
$TFLAYOUT_EXPORTERS_TABLE (default build/real_exporters_table.md).
"""
import json
import os
import subprocess

import numpy as np
import onnx
import pytest

import ct_harness as H

torch = pytest.importorskip("torch")
nn = torch.nn

FULL = os.environ.get("TFLAYOUT_FULL_EXPORTERS") == "1"
CASES = ([(o, k) for o in (8, 9, 13, 17) for k in (False, True)] if FULL
         else [(8, False), (13, True), (17, False)])
DEFAULT = H.DEFAULT_PIPELINE
CUSTOM = H.CUSTOM_PIPELINE
OPT_IN = "{initializers-as-inputs=constant}"
ROWS = []


# ---- architectures (small widths: the suite checks structure, not capacity) ----

class DCGANGenerator(nn.Module):
    def __init__(self, nz=16, ngf=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class UNet(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        conv = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU())  # noqa: E731
        self.e1, self.e2, self.mid = conv(3, c), conv(c, 2 * c), conv(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.d2 = conv(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.d1 = conv(2 * c, c)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.d2(torch.cat([self.up2(m), e2], 1))
        d1 = self.d1(torch.cat([self.up1(d2), e1], 1))
        return self.out(d1)


class Vocoder(nn.Module):
    """MelGAN / HiFi-GAN-like upsampler: weight_norm ConvTranspose1d stages (spectral_norm on one
    when `spectral`)."""

    def __init__(self, mels=8, c=16, spectral=False):
        super().__init__()
        wn = nn.utils.weight_norm
        self.pre = wn(nn.Conv1d(mels, c, 7, padding=3))
        self.up1 = wn(nn.ConvTranspose1d(c, c // 2, 16, stride=8, padding=4))
        second = nn.ConvTranspose1d(c // 2, c // 4, 4, stride=2, padding=1)
        self.up2 = nn.utils.spectral_norm(second) if spectral else wn(second)
        self.post = wn(nn.Conv1d(c // 4, 1, 7, padding=3))

    def forward(self, mel):
        x = nn.functional.leaky_relu(self.pre(mel), 0.1)
        x = nn.functional.leaky_relu(self.up1(x), 0.1)
        x = nn.functional.leaky_relu(self.up2(x), 0.1)
        return torch.tanh(self.post(x))


class Special(nn.Module):
    """Grouped, dilated and output_padding ConvTranspose2d, and a ConvTranspose3d."""

    def __init__(self):
        super().__init__()
        self.grouped = nn.ConvTranspose2d(8, 12, 3, stride=2, padding=1, groups=4)
        self.dilated = nn.ConvTranspose2d(12, 6, 3, stride=1, padding=2, dilation=2)
        self.outpad = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.deconv3d = nn.ConvTranspose3d(4, 2, (2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x):
        y = self.outpad(torch.relu(self.dilated(torch.relu(self.grouped(x)))))
        return self.deconv3d(y.unsqueeze(2).repeat(1, 1, 2, 1, 1))


def mask_head():
    """torchvision's Mask R-CNN mask predictor (roi_heads.mask_predictor of
    maskrcnn_resnet50_fpn): ConvTranspose2d(256, 256, 2, 2) + ReLU + Conv2d(256, 91, 1)."""
    tv = pytest.importorskip("torchvision")
    model = tv.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    return model.roi_heads.mask_predictor


# name -> (factory, input shape at export, input shape at run time, dynamic axes, fold?)
ARCHS = {
    "dcgan": (DCGANGenerator, (1, 16, 1, 1), (1, 16, 1, 1), None, True),
    "unet_dynamic_hw": (UNet, (1, 3, 32, 32), (1, 3, 48, 40), {"x": {2: "h", 3: "w"}}, True),
    "vocoder_wn_folded": (Vocoder, (1, 8, 10), (1, 8, 10), None, True),
    "vocoder_wn_unfolded": (Vocoder, (1, 8, 10), (1, 8, 10), None, False),
    "vocoder_sn_unfolded": (lambda: Vocoder(spectral=True), (1, 8, 10), (1, 8, 10), None, False),
    "grouped_dilated_outpad_3d": (Special, (1, 8, 5, 5), (1, 8, 5, 5), None, True),
    "maskrcnn_mask_head": (mask_head, (2, 256, 14, 14), (2, 256, 14, 14), None, True),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("real_exporters")
    yield path
    table = format_table(ROWS)
    out = os.environ.get("TFLAYOUT_EXPORTERS_TABLE", os.path.join(H.REPO, "build", "real_exporters_table.md"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(table)
    print("\n" + table)


def format_table(rows):
    lines = ["| model | IR/opset | ConvTranspose nodes | rewritten | ORT max rel err | onnx-tf max rel err |",
             "|---|---|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["opset"])):
        lines.append(f"| {r['model']} | {r['ir']}/{r['opset']} | {r['nodes']} | {r['rewritten']} | "
                     f"{r['ort']:.1e} | {r['tf']} |")
    return "\n".join(lines) + "\n"


def export(name, opset, keep, folder):
    factory, shape, _, dynamic, fold = ARCHS[name]
    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    path = os.path.join(folder, f"{name}_op{opset}{'_keep' if keep else ''}.onnx")
    torch.onnx.export(model, (torch.randn(*shape),), path, opset_version=opset, input_names=["x"],
                      output_names=["y"], dynamic_axes=dynamic, do_constant_folding=fold,
                      keep_initializers_as_inputs=keep)
    return path


def rel_err(want, got):
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    assert want.shape == got.shape, (want.shape, got.shape)
    return float(np.abs(want - got).max() / max(np.abs(want).max(), 1e-30))


def ort_run(path_or_model, feeds):
    import onnxruntime as ort
    src = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def onnx_tf_run(path, feeds):
    import onnx_tf.backend
    import tflayout.onnx_tf_handler  # noqa: F401  registers tflayout.ConvTransposeTF
    return onnx_tf.backend.prepare(onnx.load(path), logging_level="ERROR").run(feeds)


def run_opt(src, dst, passes, *extra):
    report = dst + ".report.json"
    H.run_tool(src, dst, passes, ["--report", report, *extra])
    with open(report) as f:
        return json.load(f)


def count(report, key):
    return int(report.get(key, 0))


def check_model(src, name, opset, run_shape, workdir, tol_ort=1e-5, tol_tf=1e-4, dtype=np.float32):
    """Runs the checks and records a table row."""
    original = onnx.load(src)
    nodes = sum(n.op_type == "ConvTranspose" for n in original.graph.node)
    initializers = {t.name for t in original.graph.initializer}
    kept_as_inputs = original.ir_version >= 4 and any(i.name in initializers for i in original.graph.input)
    base = os.path.join(str(workdir), os.path.basename(src)[:-5])

    pipeline, custom = DEFAULT, CUSTOM
    if kept_as_inputs:  # the documented opt-in: left alone by default, with a remark naming it
        report = run_opt(src, base + ".default.onnx", DEFAULT)
        assert count(report, "weights_rewritten") == 0
        assert count(report, "weights_left_alone") == nodes
        assert all("initializers-as-inputs=constant" in r["message"] for r in report["remarks"]
                   if r["pass"] == "conv-transpose-to-tf" and "listed as a graph input" in r["message"])
        proc = subprocess.run([H.tool_path(), src, "-o", base + ".strict.onnx", "-q",
                               "--require-all-converted"], capture_output=True, text=True)
        assert proc.returncode == 5 and not os.path.exists(base + ".strict.onnx")
        opt_in = lambda p: p.replace("fold-conv-transpose-weights", "fold-conv-transpose-weights" + OPT_IN)  # noqa: E731
        pipeline = opt_in(DEFAULT.replace("conv-transpose-to-tf", "conv-transpose-to-tf" + OPT_IN))
        custom = opt_in(CUSTOM.replace("{form=custom-op}", "{form=custom-op,initializers-as-inputs=constant}"))

    report = run_opt(src, base + ".compensate.onnx", pipeline, "--require-all-converted")
    assert count(report, "conv_transpose_weights") == nodes
    assert count(report, "weights_rewritten") == nodes, report["remarks"]
    run_opt(src, base + ".custom.onnx", custom, "--require-all-converted")
    compensate = onnx.load(base + ".compensate.onnx")
    try:
        onnx.checker.check_model(original)
    except onnx.checker.ValidationError:
        pass  # e.g. the float16 converter's unsorted Casts: the rewrite cannot fix that
    else:
        onnx.checker.check_model(compensate)
    assert compensate.ir_version == original.ir_version
    if original.ir_version < 4:  # still valid IR 3: every initializer listed as an input
        inputs = {i.name for i in compensate.graph.input}
        assert {t.name for t in compensate.graph.initializer} <= inputs

    rng = np.random.default_rng(7)
    feeds = {"x": rng.standard_normal(run_shape).astype(dtype)}
    want = ort_run(src, feeds)
    ort_err = max(rel_err(w, g) for w, g in zip(want, ort_run(base + ".compensate.onnx", feeds)))
    assert ort_err <= tol_ort

    try:
        baseline = onnx_tf_run(src, feeds)
        base_err = max(rel_err(w, g) for w, g in zip(want, baseline))
    except Exception as e:  # noqa: BLE001  what stock onnx-tf says about the original
        tf_cell = f"original fails in onnx-tf: {type(e).__name__}"
    else:
        errs = [max(rel_err(w, g) for w, g in zip(want, onnx_tf_run(base + f".{form}.onnx", feeds)))
                for form in ("compensate", "custom")]
        tf_cell = f"{errs[0]:.1e} (stock, compensate) / {errs[1]:.1e} (handler, custom-op); original {base_err:.1e}"
        if base_err <= tol_tf:
            assert max(errs) <= tol_tf, (errs, base_err)
        else:  # onnx-tf gets the original wrong (outside the ConvTranspose weights): recorded only
            tf_cell = "onnx-tf computes the original wrong: " + tf_cell
    ROWS.append({"model": name + ("+keep_inputs" if kept_as_inputs else ""), "ir": original.ir_version,
                 "opset": opset, "nodes": nodes, "rewritten": count(report, "weights_rewritten"),
                 "ort": ort_err, "tf": tf_cell})


@pytest.mark.parametrize("opset,keep", CASES, ids=[f"op{o}{'-keep' if k else ''}" for o, k in CASES])
@pytest.mark.parametrize("name", list(ARCHS))
def test_real_export(name, opset, keep, workdir, tool):
    if name == "maskrcnn_mask_head" and not FULL and opset == 8:
        pytest.skip("stratified: the mask head runs at opsets 13 and 17 by default")
    src = export(name, opset, keep, str(workdir))
    check_model(src, name, opset, ARCHS[name][2], workdir)


@pytest.mark.parametrize("name", ["vocoder_wn_unfolded", "vocoder_sn_unfolded"])
def test_folded_weights_equal_onnx_runtime(name, workdir, tool):
    """fold-conv-transpose-weights against ONNX Runtime evaluating the same subgraph."""
    for opset in (9, 13, 17):
        src = export(name, opset, False, str(workdir))
        model = onnx.load(src)
        weights = [n.input[1] for n in model.graph.node if n.op_type == "ConvTranspose"]
        computed = [w for w in weights if w not in {t.name for t in model.graph.initializer}]
        assert computed, "the export was expected to compute its weights"
        for w in computed:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(w))
        feeds = {"x": np.random.default_rng(1).standard_normal(ARCHS[name][2]).astype(np.float32)}
        reference = dict(zip([o.name for o in model.graph.output], ort_run(model, feeds)))
        dst = src[:-5] + ".folded.onnx"
        report = tool_fold(src, dst)
        assert count_stat(report, "weights-folded") == len(computed)
        folded = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(dst).graph.initializer}
        for w in computed:
            assert rel_err(reference[w], folded[w]) <= 1e-6, (opset, w)
        out = onnx.load(dst)
        inits = {t.name for t in out.graph.initializer}
        assert all(n.input[1] in inits for n in out.graph.node if n.op_type == "ConvTranspose")


def tool_fold(src, dst):
    return run_opt(src, dst, "fold-conv-transpose-weights")


def count_stat(report, key):
    return sum(int(p["statistics"].get(key, 0)) for p in report["passes"])


def test_qdq_per_channel(workdir, tool):
    """ONNX Runtime quantize_static(QDQ, per_channel=True) of the DCGAN generator: the int8
    weights are stored in TF layout and DequantizeLinear's axis follows them."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src = export("dcgan", 13, False, str(workdir))
    dst = os.path.join(str(workdir), "dcgan_op13_qdq.onnx")

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.data = iter([{"x": rng.standard_normal((1, 16, 1, 1)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.data, None)

    # QuantizeBias=False: ONNX Runtime 1.17's bias quantization for ConvTranspose multiplies by
    # per-channel scales of the wrong axis and raises when C_in != C_out.
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, extra_options={"QuantizeBias": False})
    q = onnx.load(dst)
    dq_into_ct = [n for n in q.graph.node if n.op_type == "DequantizeLinear" and
                  any(n.output[0] == c.input[1] for c in q.graph.node if c.op_type == "ConvTranspose")]
    assert dq_into_ct and all(len(onnx.numpy_helper.to_array(
        next(t for t in q.graph.initializer if t.name == n.input[1]))) > 1 for n in dq_into_ct)
    check_model(dst, "dcgan_qdq_per_channel", 13, (1, 16, 1, 1), workdir)


def test_float16(workdir, tool):
    """onnxruntime.transformers' float16 conversion (keep_io_types) of the vocoder."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src = export("vocoder_wn_folded", 13, False, str(workdir))
    half = convert_float_to_float16(onnx.load(src), keep_io_types=True)
    dst = os.path.join(str(workdir), "vocoder_wn_folded_op13_fp16.onnx")
    onnx.save(half, dst)
    check_model(dst, "vocoder_wn_folded_fp16", 13, ARCHS["vocoder_wn_folded"][2], workdir,
                tol_ort=1e-3, tol_tf=1e-2)
