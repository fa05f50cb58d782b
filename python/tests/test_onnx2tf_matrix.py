"""The ConvTranspose equivalence matrix through the real onnx2tf (in .venv-onnx2tf).

Every generated float32 configuration (ranks 1-3, groups 1/2/depthwise, dilations, asymmetric
pads, output_padding, every auto_pad, output_shape, bias or not; python/tests/ct_harness.py) is
run through ``tflayout-opt --target=onnx2tf``, then onnx2tf with onnxsim on and off, and its
SavedModel and float32 .tflite are compared with ONNX Runtime on the original model. Many
configurations share one ONNX model (independent subgraphs), so onnx2tf runs once per batch; a
batch that fails to convert is split until the failing configurations stand alone.

By default 160 configurations (seed 2024); TFLAYOUT_ONNX2TF_FULL=1 runs 520.
scripts/results/onnx2tf_matrix.py measures onnx2tf on the original models and on the default
(compensate) output beside this target, for docs/results (onnx2tf's own results, asserted
nowhere). Each run writes a summary to $TFLAYOUT_ONNX2TF_SUMMARY (default
build/onnx2tf_summary.json).
"""
import json
import os
import tempfile

import pytest

import ct_harness as H

pytest.importorskip("onnx2tf")
import onnx2tf_harness as O  # noqa: E402

SEED = 2024
FULL = os.environ.get("TFLAYOUT_ONNX2TF_FULL") == "1"
COUNT = 520 if FULL else 160
BATCH = 40
SUMMARY = os.environ.get("TFLAYOUT_ONNX2TF_SUMMARY",
                         os.path.join(H.REPO, "build", "onnx2tf_summary.json"))


def _configs():
    return H.generate_configs(COUNT, SEED, dtypes=("float32",), dtype_p=(1.0,))


def _run(form, onnxsim):
    configs = _configs()
    results = {}
    with tempfile.TemporaryDirectory(prefix="tflayout-onnx2tf-") as workdir:
        for k in range(0, len(configs), BATCH):
            results.update(O.run_configs(configs[k:k + BATCH], SEED, workdir, form, onnxsim))
    return configs, results


def _record(form, onnxsim, configs, results):
    summary = {}
    if os.path.isfile(SUMMARY):
        with open(SUMMARY) as f:
            summary = json.load(f)
    key = f"{form}/{'onnxsim' if onnxsim else 'no-onnxsim'}"
    by_id = {c.idx: c for c in configs}
    entry = {"versions": O.onnx2tf_versions(), "configurations": len(results)}
    for kind in ("saved_model", "tflite"):
        rows = [r[kind] for r in results.values()]
        entry[kind] = {s: sum(1 for x in rows if x["status"] == s) for s in ("pass", "reject", "wrong")}
        passing = [x["rel_err"] for x in rows if x["status"] == "pass"]
        entry[kind]["largest_passing_rel_err"] = max(passing) if passing else None
        entry[kind]["not_passing"] = {by_id[i].id: {k: v for k, v in r[kind].items()}
                                      for i, r in sorted(results.items()) if r[kind]["status"] != "pass"}
    summary[key] = entry
    os.makedirs(os.path.dirname(SUMMARY), exist_ok=True)
    with open(SUMMARY, "w") as f:
        json.dump(summary, f, indent=1, default=str)
    return entry


def _coverage(configs):
    """The matrix dimensions the stratified subset must still cover."""
    seen = {("rank", c.rank) for c in configs}
    seen |= {("group", "dw" if c.group == c.c_in and c.group > 1 else min(c.group, 2)) for c in configs}
    seen |= {("auto_pad", "OUTPUT_SHAPE" if c.output_shape else c.auto_pad) for c in configs}
    seen |= {("dilated", any(d > 1 for d in c.dilations)) for c in configs}
    seen |= {("output_padding", any(c.output_padding)) for c in configs}
    seen |= {("bias", c.bias) for c in configs}
    seen |= {("asymmetric_pads", c.pads is not None and c.pads[:c.rank] != c.pads[c.rank:])
             for c in configs}
    return seen


def test_subset_covers_the_matrix():
    seen = _coverage(_configs())
    for rank in (1, 2, 3):
        assert ("rank", rank) in seen
    for group in (1, 2, "dw"):
        assert ("group", group) in seen
    for mode in ("NOTSET", "OUTPUT_SHAPE", "SAME_UPPER", "SAME_LOWER", "VALID"):
        assert ("auto_pad", mode) in seen
    for key in ("dilated", "output_padding", "bias", "asymmetric_pads"):
        assert (key, True) in seen and (key, False) in seen


@pytest.mark.parametrize("onnxsim", [True, False], ids=["onnxsim", "no-onnxsim"])
def test_target_onnx2tf_matrix(tool, onnxsim):
    configs, results = _run("target", onnxsim)
    entry = _record("target", onnxsim, configs, results)
    for kind in ("saved_model", "tflite"):
        assert entry[kind]["not_passing"] == {}, (kind, entry[kind]["not_passing"])
    assert entry["saved_model"]["pass"] == len(configs)
