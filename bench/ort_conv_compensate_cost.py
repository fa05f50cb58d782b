#!/usr/bin/env python3
"""ONNX Runtime's cost of conv-to-tf's compensate form (or another weight-layout pass) on a
large CNN.

Exports a torchvision architecture (--arch, default resnet50; random weights, opset 13),
rewrites it with tflayout-opt --passes=PASSES (default conv-to-tf: every Conv weight in TF
layout, each behind a Transpose; gemm-to-tf: every Linear's weight as a Dense kernel, read
with transB=0, no extra node), then times, each in a fresh child process, InferenceSession creation plus
one run of the original and the rewritten model under the three session settings of
bench/ort_compensate_cost.py (default, no-const-fold, disable-all), best of --repeat, and
checks that the outputs agree. This is the measurement behind whether the default pipeline
(--target=onnxruntime) includes conv-to-tf and gemm-to-tf (docs/operators.md).

Run with the project venv:
  .venv/bin/python bench/ort_conv_compensate_cost.py [--arch NAME] [--passes PASSES]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ort_compensate_cost import SETTINGS, child  # noqa: E402


def export(arch, path, size):
    import torch
    import torchvision

    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    torch.onnx.export(net, torch.randn(1, 3, size, size), path, opset_version=13,
                      input_names=["x"], output_names=["y"])


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    root = os.path.dirname(HERE)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--tool", default=os.path.join(root, "build", "tflayout-opt"))
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--passes", default="conv-to-tf", help="the tflayout-opt pipeline to cost")
    args = ap.parse_args()
    import numpy as np
    import onnx

    work = tempfile.mkdtemp(prefix="tflayout_ort_conv_", dir=args.workdir)
    try:
        orig = os.path.join(work, "orig.onnx")
        comp = os.path.join(work, "rewritten.onnx")
        export(args.arch, orig, args.size)
        subprocess.run([args.tool, "-q", orig, "-o", comp, f"--passes={args.passes}"],
                       check=True)
        model, rewritten = onnx.load(orig), onnx.load(comp)
        convs = sum(n.op_type == "Conv" for n in model.graph.node)
        gemms = sum(n.op_type == "Gemm" for n in model.graph.node)
        transposes = sum(n.op_type == "Transpose" for n in rewritten.graph.node)
        from tflayout.annotation import read_annotation
        entries = len((read_annotation(rewritten) or {"tensors": []})["tensors"])
        print(f"model: {args.arch}, {convs} Conv and {gemms} Gemm nodes, "
              f"{os.path.getsize(orig) / 2**20:.0f} MiB; --passes={args.passes}: {entries} "
              f"weights rewritten, {transposes} Transpose nodes; input 1x3x{args.size}x{args.size}")
        print(f"{'setting':<15} {'model':<11} {'session s':>10} {'run s':>7} {'peak RSS MiB':>13}")
        outputs = {}
        for setting in SETTINGS:
            for name, path in (("original", orig), (args.passes, comp)):
                best = None
                for _ in range(args.repeat):
                    npy = os.path.join(work, f"{name}_{setting}.npy")
                    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                        path, setting, npy], capture_output=True, text=True)
                    if r.returncode != 0:
                        sys.exit(f"{name} {setting} failed:\n{r.stderr}")
                    s, run, rss = r.stdout.split()
                    if best is None or float(s) < best[0]:
                        best = (float(s), float(run), int(rss))
                    outputs[(name, setting)] = np.load(npy)
                print(f"{setting:<15} {name:<11} {best[0]:>10.3f} {best[1]:>7.3f} "
                      f"{best[2] / 2**20:>13.0f}", flush=True)
        ref = outputs[("original", "default")]
        worst = max(float(np.max(np.abs(v - ref))) for v in outputs.values())
        print(f"max |output - original default output| over all runs: {worst:.3g} "
              f"(max |output| {float(np.max(np.abs(ref))):.3g})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
