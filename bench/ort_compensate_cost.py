#!/usr/bin/env python3
"""ONNX Runtime's cost of the compensate form on a large model.

Generates a model with one ConvTranspose whose float32 weight is --channels x --channels x 4 x 4
(4096: 1 GiB, external data), rewrites it with tflayout-opt (default pipeline: the compensate
form, weight in TF layout + Transpose(perm=inverse)), then times, each in a fresh child process,
InferenceSession creation plus one run for the original and the compensate model under three
session settings:

  default          graph_optimization_level = ORT_ENABLE_ALL (ORT's default)
  no-const-fold    ORT_ENABLE_ALL with the ConstantFolding optimizer disabled
  disable-all      graph_optimization_level = ORT_DISABLE_ALL

and checks that both models give the same output. Peak RSS of each child is reported too.

Run with the project venv:  .venv/bin/python bench/ort_compensate_cost.py [--channels N]
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SETTINGS = ("default", "no-const-fold", "disable-all")


def child(model, setting, out_npy):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    disabled = []
    if setting == "disable-all":
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if setting == "no-const-fold":
        disabled = ["ConstantFolding"]
    t0 = time.monotonic()
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"],
                                disabled_optimizers=disabled)
    t1 = time.monotonic()
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d for d in inp.shape]).astype(np.float32)
    y = sess.run(None, {inp.name: x})[0]
    t2 = time.monotonic()
    np.save(out_npy, y)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{t1 - t0:.3f} {t2 - t1:.3f} {rss}")


def generate(path, channels):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    c = m = channels
    data = os.path.basename(path) + ".data"
    rng = np.random.default_rng(1)
    with open(path + ".data", "wb") as f:
        for _ in range(c):
            (rng.standard_normal(m * 16, dtype=np.float32) * 0.01).tofile(f)
    w = TensorProto()
    w.name, w.data_type = "W", TensorProto.FLOAT
    w.dims.extend([c, m, 4, 4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", data), ("offset", "0"), ("length", str(c * m * 64))):
        e = w.external_data.add()
        e.key, e.value = k, v
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], name="deconv", strides=[2, 2],
                            pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "large", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, c, 4, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, m, 8, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channels", type=int, default=4096)
    ap.add_argument("--tool", default=os.path.join(root, "build", "tflayout-opt"))
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    import numpy as np

    work = tempfile.mkdtemp(prefix="tflayout_ort_", dir=args.workdir)
    try:
        orig = os.path.join(work, "orig.onnx")
        os.makedirs(os.path.join(work, "c"))
        comp = os.path.join(work, "c", "compensate.onnx")
        generate(orig, args.channels)
        subprocess.run([args.tool, "-q", orig, "-o", comp], check=True)
        size = os.path.getsize(orig + ".data")
        print(f"model: ConvTranspose weight {args.channels}x{args.channels}x4x4 float32 = "
              f"{size / 2**30:.2f} GiB (external data)")
        print(f"{'setting':<15} {'model':<11} {'session s':>10} {'run s':>7} {'peak RSS MiB':>13}")
        outputs = {}
        for setting in SETTINGS:
            for name, path in (("original", orig), ("compensate", comp)):
                best = None
                for _ in range(args.repeat):
                    npy = os.path.join(work, f"{name}_{setting}.npy")
                    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                        path, setting, npy], capture_output=True, text=True)
                    if r.returncode != 0:
                        sys.exit(f"{name} {setting} failed:\n{r.stderr}")
                    s, run, rss = r.stdout.split()
                    if best is None or float(s) + float(run) < best[0] + best[1]:
                        best = (float(s), float(run), int(rss))
                    outputs[(name, setting)] = np.load(npy)
                print(f"{setting:<15} {name:<11} {best[0]:>10.2f} {best[1]:>7.2f} "
                      f"{best[2] / 2**20:>13.0f}", flush=True)
        ref = outputs[("original", "default")]
        worst = max(float(np.max(np.abs(v - ref))) for v in outputs.values())
        print(f"max |output - original default output| over all runs: {worst:.3g}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
