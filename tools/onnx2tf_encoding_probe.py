"""How onnx2tf without onnxsim (-nuo) converts encodings of the compensate form (docs/targets-and-forms.md, onnx2tf).

Takes the default (compensate) output of tflayout-opt and re-encodes each TF-layout weight:
  initializer    as written: initializer W__tf -> Transpose -> ConvTranspose
  constant-node  W__tf as a Constant node instead of an initializer
  identity       initializer W__tf -> Identity -> Transpose
then converts with onnx2tf -nuo and compares the SavedModel and the float32 .tflite with ONNX
Runtime on the original: the bundled models, or generated configurations (ct_harness, seed
2024, float32; a batch that fails is split down to single configurations).

Run with the onnx2tf venv, from the repository root:
  TFLAYOUT_OPT=build/tflayout-opt PYTHONPATH=python/tests PATH=.venv-onnx2tf/bin:$PATH \\
    .venv-onnx2tf/bin/python tools/onnx2tf_encoding_probe.py --encoding identity matrix 80 20
  ... tools/onnx2tf_encoding_probe.py --encoding constant-node models
"""
import argparse
import os
import tempfile

import numpy as np
import onnx
from onnx import helper

import ct_harness as H
import onnx2tf_harness as O

MODELS = ["dcgan_generator", "vocoder_upsampler_1d", "decoder_3d", "grouped_deconv", "unet_decoder"]


def reencode(path, encoding):
    """Rewrites the compensate form at `path` in place into `encoding`."""
    if encoding == "initializer":
        return
    model = onnx.load(path)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    tf_names = [n.input[0] for n in graph.node
                if n.op_type == "Transpose" and n.input[0] in inits and n.input[0].endswith("__tf")]
    added = []
    for name in tf_names:
        if encoding == "constant-node":
            tensor = inits[name]
            graph.initializer.remove(tensor)
            added.append(helper.make_node("Constant", [], [name], value=tensor, name=name + "_const"))
        else:  # identity
            for node in graph.node:
                if node.op_type == "Transpose" and node.input[0] == name:
                    node.input[0] = name + "_id"
            added.append(helper.make_node("Identity", [name], [name + "_id"], name=name + "_identity"))
    nodes = added + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, path)


def probe_models(encoding, workdir, repo):
    for name in MODELS:
        src = os.path.join(repo, "models", name + ".onnx")
        prepared = os.path.join(workdir, name + ".in.onnx")
        H.run_tool(src, prepared)
        reencode(prepared, encoding)
        original = onnx.load(src)
        conversion = O.convert(prepared, os.path.join(workdir, name), onnxsim=False)
        if conversion.error:
            print(encoding, name, "refused:", conversion.error[:150], flush=True)
            continue
        rng = np.random.default_rng(0)
        feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
                 .astype(np.float32) for i in original.graph.input}
        ref = H.ort_run(original, feeds)
        names = [o.name for o in original.graph.output]
        for kind, runner, path in (("saved_model", O.run_saved_model, conversion.saved_model),
                                   ("tflite", O.run_tflite, conversion.tflite)):
            try:
                got = runner(path, feeds, names)
                print(encoding, name, kind, max(O.rel_err(got[n], ref[n]) for n in names), flush=True)
            except Exception as e:  # noqa: BLE001 - a runtime refusal is a result
                print(encoding, name, kind, "refused at run time:", str(e)[:100], flush=True)


def probe_matrix(encoding, workdir, count, batch):
    def prepare(src, dst, form):
        H.run_tool(src, dst)
        reencode(dst, encoding)
    O._prepare = prepare  # run_configs' preparation step, here: the default output re-encoded
    configs = H.generate_configs(count, 2024, dtypes=("float32",), dtype_p=(1.0,))
    results = {}
    for k in range(0, len(configs), batch):
        results.update(O.run_configs(configs[k:k + batch], 2024, workdir, "default", False,
                                     log=lambda *a: None))
    by_idx = {c.idx: c for c in configs}
    counts = {}
    for idx, result in sorted(results.items()):
        for kind in ("saved_model", "tflite"):
            status = result[kind]["status"]
            counts[(kind, status)] = counts.get((kind, status), 0) + 1
            if status == "wrong":
                print(encoding, "wrong", kind, by_idx[idx].id, result[kind]["rel_err"], flush=True)
    for kind in ("saved_model", "tflite"):
        print(encoding, kind, " / ".join(f"{s} {counts.get((kind, s), 0)}"
                                         for s in ("pass", "reject", "wrong")), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoding", choices=["initializer", "constant-node", "identity"],
                        default="initializer")
    parser.add_argument("what", choices=["models", "matrix"])
    parser.add_argument("count", nargs="?", type=int, default=80)
    parser.add_argument("batch", nargs="?", type=int, default=20)
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="onnx2tf-probe-") as workdir:
        if args.what == "models":
            probe_models(args.encoding, workdir, repo)
        else:
            probe_matrix(args.encoding, workdir, args.count, args.batch)


if __name__ == "__main__":
    main()
