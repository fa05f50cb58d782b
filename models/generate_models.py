#!/usr/bin/env python3
"""Regenerate the small test models in this folder from PyTorch.

Usage (from the repository root):
    .venv/bin/python models/generate_models.py [--out-dir models] [--no-check]

Every model is built with a fixed seed, put in eval mode (BatchNorm uses its
running statistics) and exported with torch.onnx.export(do_constant_folding=True)
and static shapes, so the weights are initializers and the graph inputs/outputs
carry full shapes. Each file is checked to have ir_version <= 8 and opset <= 17
(what the ONNX 1.12 C++ checker accepts). Running the script twice gives the
same bytes (see README.md for the sha256 sums).

With onnx and onnxruntime importable (the project venv), each exported model is
also run through onnx.checker and ONNX Runtime and compared with PyTorch.
"""
import argparse
import hashlib
import io
import os
import sys

import torch
import torch.nn as nn

MAX_IR_VERSION = 8
MAX_OPSET = 17


def _randomize_bn(module: nn.Module, gen: torch.Generator) -> None:
    """Give every BatchNorm non-trivial affine params and running stats."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


# --------------------------------------------------------------------------
# 1. DCGAN generator: latent (N, nz, 1, 1) -> image (N, 3, 32, 32)
# --------------------------------------------------------------------------
class DCGANGenerator(nn.Module):
    def __init__(self, nz=16, ngf=8, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),        # 1 -> 4
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),   # 4 -> 8
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),       # 8 -> 16
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),            # 16 -> 32
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


# --------------------------------------------------------------------------
# 2. Vocoder-style 1-D upsampler (HiFi-GAN like): mel (N, 32, 20) -> wave (N, 1, 2560)
# --------------------------------------------------------------------------
class VocoderUpsampler1d(nn.Module):
    def __init__(self, n_mels=32, ch=32):
        super().__init__()
        self.conv_pre = nn.Conv1d(n_mels, ch, 7, 1, padding=3)
        # HiFi-GAN: ConvTranspose1d(k=u*2, s=u, p=(k-u)//2)
        self.ups = nn.ModuleList([
            nn.ConvTranspose1d(ch, ch // 2, 16, 8, padding=4),       # x8
            nn.ConvTranspose1d(ch // 2, ch // 4, 16, 8, padding=4),  # x8
            nn.ConvTranspose1d(ch // 4, ch // 8, 4, 2, padding=1),   # x2
        ])
        # a small residual conv after each upsample (dilated, like HiFi-GAN's MRF)
        self.res = nn.ModuleList([
            nn.Conv1d(ch // 2, ch // 2, 3, 1, padding=1, dilation=1),
            nn.Conv1d(ch // 4, ch // 4, 3, 1, padding=3, dilation=3),
            nn.Conv1d(ch // 8, ch // 8, 3, 1, padding=5, dilation=5),
        ])
        self.conv_post = nn.Conv1d(ch // 8, 1, 7, 1, padding=3)

    def forward(self, x):
        x = self.conv_pre(x)
        for up, res in zip(self.ups, self.res):
            x = nn.functional.leaky_relu(x, 0.1)
            x = up(x)
            x = x + res(nn.functional.leaky_relu(x, 0.1))
        x = nn.functional.leaky_relu(x, 0.01)
        return torch.tanh(self.conv_post(x))


# --------------------------------------------------------------------------
# 3. 3-D decoder: (N, 16, 2, 3, 4) -> (N, 1, 8, 12, 16)
#    non-cubic kernels/strides so a wrong axis order cannot hide.
# --------------------------------------------------------------------------
class Decoder3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose3d(16, 8, kernel_size=4, stride=2, padding=1),                    # (2,3,4) -> (4,6,8)
            nn.BatchNorm3d(8),
            nn.ReLU(),
            nn.ConvTranspose3d(8, 4, kernel_size=(3, 4, 4), stride=(2, 2, 2),
                               padding=(1, 1, 1), output_padding=(1, 0, 0), bias=False),   # -> (8,12,16)
            nn.BatchNorm3d(4),
            nn.ReLU(),
            nn.ConvTranspose3d(4, 1, kernel_size=(1, 3, 5), stride=1, padding=(0, 1, 2)),   # same size
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x)


# --------------------------------------------------------------------------
# 4. Grouped / depthwise / dilated / output_padding ConvTranspose2d:
#    (N, 16, 8, 8) -> (N, 4, 33, 18)
# --------------------------------------------------------------------------
class GroupedDeconv(nn.Module):
    def __init__(self):
        super().__init__()
        # groups=4, stride 2, output_padding=1: 8x8 -> 16x16
        self.grouped = nn.ConvTranspose2d(16, 32, 3, stride=2, padding=1, output_padding=1, groups=4)
        # depthwise-style: groups == C_in == C_out
        self.depthwise = nn.ConvTranspose2d(32, 32, 3, stride=1, padding=1, groups=32, bias=False)
        # dilation 2: 16x16 -> 16x16 (k_eff = 5, pad 2)
        self.dilated = nn.ConvTranspose2d(32, 8, 3, stride=1, padding=2, dilation=2)
        # non-square kernel, asymmetric stride, output_padding on one axis only,
        # groups=2 and dilation on one axis only:
        # H = (16-1)*2 - 0 + 1*(2-1) + 1 + 1 = 33, W = (16-1)*1 - 2 + 2*(3-1) + 1 = 18
        self.mixed = nn.ConvTranspose2d(8, 4, kernel_size=(2, 3), stride=(2, 1),
                                        padding=(0, 1), output_padding=(1, 0), groups=2,
                                        dilation=(1, 2))

    def forward(self, x):
        x = torch.relu(self.grouped(x))
        x = torch.relu(self.depthwise(x))
        x = torch.relu(self.dilated(x))
        return self.mixed(x)


# --------------------------------------------------------------------------
# 5. U-Net style decoder with skip connections:
#    bottleneck (N, 32, 4, 4), skip1 (N, 16, 8, 8), skip2 (N, 8, 16, 16) -> (N, 2, 16, 16)
# --------------------------------------------------------------------------
class UNetDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(32, 16, kernel_size=2, stride=2)
        self.conv1 = nn.Sequential(
            nn.Conv2d(32, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(16, 8, kernel_size=2, stride=2)
        self.conv2 = nn.Sequential(
            nn.Conv2d(16, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, bottleneck, skip1, skip2):
        x = self.up1(bottleneck)
        x = self.conv1(torch.cat([x, skip1], dim=1))
        x = self.up2(x)
        x = self.conv2(torch.cat([x, skip2], dim=1))
        return self.head(x)


# name -> (builder, example input shapes, input names, output names, opset)
MODELS = {
    "dcgan_generator": (DCGANGenerator, [(1, 16, 1, 1)], ["latent"], ["image"], 13),
    "vocoder_upsampler_1d": (VocoderUpsampler1d, [(1, 32, 20)], ["mel"], ["audio"], 15),
    "decoder_3d": (Decoder3d, [(1, 16, 2, 3, 4)], ["features"], ["volume"], 13),
    "grouped_deconv": (GroupedDeconv, [(1, 16, 8, 8)], ["input"], ["output"], 17),
    "unet_decoder": (UNetDecoder, [(1, 32, 4, 4), (1, 16, 8, 8), (1, 8, 16, 16)],
                     ["bottleneck", "skip1", "skip2"], ["logits"], 11),
}


def build(name, seed=0):
    builder, shapes, in_names, out_names, opset = MODELS[name]
    torch.manual_seed(seed)
    model = builder()
    gen = torch.Generator().manual_seed(seed + 1)
    _randomize_bn(model, gen)
    model.eval()
    inputs = tuple(torch.randn(*s, generator=gen) for s in shapes)
    return model, inputs, in_names, out_names, opset


def export(name, out_dir):
    model, inputs, in_names, out_names, opset = build(name)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            model, inputs, buf,
            export_params=True,
            do_constant_folding=True,
            opset_version=opset,
            input_names=in_names,
            output_names=out_names,
            training=torch.onnx.TrainingMode.EVAL,
            verbose=False,
        )
    data = buf.getvalue()
    path = os.path.join(out_dir, name + ".onnx")
    with open(path, "wb") as f:
        f.write(data)
    return path, data, model, inputs


def check(name, data, model, inputs):
    """Validate limits, run checker + ONNX Runtime, compare with PyTorch."""
    try:
        import numpy as np
        import onnx
    except ImportError:
        return "skipped (no onnx)"
    m = onnx.load_from_string(data)
    assert m.ir_version <= MAX_IR_VERSION, (name, m.ir_version)
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx"):
            assert imp.version <= MAX_OPSET, (name, imp.version)
    onnx.checker.check_model(m, full_check=True)
    init_names = {t.name for t in m.graph.initializer}
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        assert dims and all(d.HasField("dim_value") for d in dims), (name, vi.name)
    n_ct = 0
    for node in m.graph.node:
        if node.op_type == "ConvTranspose":
            n_ct += 1
            assert node.input[1] in init_names, (name, node.name, "W not an initializer")
    try:
        import onnxruntime as ort
    except ImportError:
        return "%d ConvTranspose, checker ok, ORT skipped" % n_ct
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = model(*inputs)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    err = max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want))
    assert err < 1e-4, (name, err)
    shapes = [tuple(g.shape) for g in got]
    return "%d ConvTranspose, out %s, max|ort-torch|=%.2e" % (n_ct, shapes, err)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--no-check", action="store_true", help="skip checker/ORT comparison")
    ap.add_argument("names", nargs="*", help="subset of models (default: all)")
    args = ap.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    names = args.names or list(MODELS)
    for name in names:
        if name not in MODELS:
            ap.error("unknown model %r (have: %s)" % (name, ", ".join(MODELS)))
    os.makedirs(args.out_dir, exist_ok=True)
    for name in names:
        path, data, model, inputs = export(name, args.out_dir)
        info = "" if args.no_check else check(name, data, model, inputs)
        print("%-22s %7d bytes  sha256 %s  %s"
              % (name + ".onnx", len(data), hashlib.sha256(data).hexdigest()[:16], info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
