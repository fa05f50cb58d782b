"""Real-exporter models: small real-world architectures exported by torch.onnx.export (Debian's
torch 1.13, in the main venv). Shared by test_real_exporters.py (imports it) and
test_onnx2tf_real_exporters.py (the onnx2tf venv has no torch: it runs this file as a script).

    python real_exporter_models.py OUT_DIR NAME:OPSET[:keep] ...

exports each model into OUT_DIR and prints one JSON line per model: {"name", "opset", "keep",
"path", "run_shape"}.
"""
import json
import os
import sys

import torch

nn = torch.nn


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
    import torchvision as tv  # ImportError when torchvision is missing: the caller decides
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


def export_cases(folder, specs):
    """[{name, opset, keep, path, run_shape}] for specs like "dcgan:17" or "unet_dynamic_hw:13:keep"."""
    rows = []
    for spec in specs:
        name, opset, *rest = spec.split(":")
        keep = rest == ["keep"]
        path = export(name, int(opset), keep, folder)
        rows.append({"name": name, "opset": int(opset), "keep": keep, "path": path,
                     "run_shape": list(ARCHS[name][2])})
    return rows


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for row in export_cases(out_dir, sys.argv[2:]):
        print(json.dumps(row))
