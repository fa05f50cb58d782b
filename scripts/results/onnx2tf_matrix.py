#!/usr/bin/env python3
"""Writes docs/results/onnx2tf-matrix.md: the generated float32 ConvTranspose configurations
through the real onnx2tf (SavedModel and float32 .tflite, onnxsim on and off) against ONNX
Runtime on the original model, for three inputs: tflayout-opt --target=onnx2tf (what
python/tests/test_onnx2tf_matrix.py asserts), the original model and the default (compensate)
output (onnx2tf's own results: measured here, asserted nowhere).

The default output without onnxsim is not run: TensorFlow crashes (SIGILL) running one of the
models onnx2tf misconverts; tools/onnx2tf_encoding_probe.py measures that case one
configuration at a time.

usage: .venv-onnx2tf/bin/python scripts/results/onnx2tf_matrix.py [--count N] [--forms F,...]
  --count N    configurations (default 160, the test suite's; 520 is the full matrix)
  --forms      any of target,original,default (default: all three)
Environment: TFLAYOUT_OPT (default build/tflayout-opt).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamp  # noqa: E402

sys.path[:0] = [os.path.join(stamp.REPO, "python", "tests"), os.path.join(stamp.REPO, "python")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TFLAYOUT_OPT", os.path.join(stamp.REPO, "build", "tflayout-opt"))

SEED = 2024  # the seed of python/tests/test_onnx2tf_matrix.py
BATCH = 40
FORMS = {"target": "`--target=onnx2tf`", "original": "the original model",
         "default": "the default (compensate) output"}


def run_form(configs, form, onnxsim, workdir):
    import onnx2tf_harness as O
    results = {}
    for k in range(0, len(configs), BATCH):
        results.update(O.run_configs(configs[k:k + BATCH], SEED, workdir, form, onnxsim,
                                     log=lambda s: print(s, file=sys.stderr)))
    return results


def row(form, onnxsim, results):
    cells = [FORMS[form], "on" if onnxsim else "off (`-nuo`)", str(len(results))]
    for kind in ("saved_model", "tflite"):
        rows = [r[kind] for r in results.values()]
        counts = [sum(1 for x in rows if x["status"] == s) for s in ("pass", "reject", "wrong")]
        passing = [x["rel_err"] for x in rows if x["status"] == "pass"]
        cells.append(" / ".join(map(str, counts)))
        cells.append(f"{max(passing):.1e}" if passing else "-")
    return "| " + " | ".join(cells) + " |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--forms", default="target,original,default")
    args = parser.parse_args()
    import ct_harness as H
    import onnx2tf_harness as O
    configs = H.generate_configs(args.count, SEED, dtypes=("float32",), dtype_p=(1.0,))
    runs = [(f, s) for f in args.forms.split(",") for s in (True, False)
            if not (f == "default" and not s)]
    lines = ["| input to onnx2tf | onnxsim | configurations | SavedModel pass / reject / wrong "
             "| largest passing error | TFLite pass / reject / wrong | largest passing error |",
             "|---|---|---:|---:|---:|---:|---:|"]
    run = stamp.Run(stamp.command_line()).start()
    with tempfile.TemporaryDirectory(prefix="tflayout-onnx2tf-") as workdir:
        for form, onnxsim in runs:
            lines.append(row(form, onnxsim, run_form(configs, form, onnxsim, workdir)))
    run.finish()
    body = "\n".join([
        f"{args.count} generated float32 configurations (seed {SEED}; ranks 1-3, groups 1/2/"
        "depthwise, dilations, asymmetric pads, output_padding, every auto_pad, output_shape, "
        f"bias or not), {BATCH} per ONNX model; {O.onnx2tf_versions()}. Pass: max |TF - ORT| <= "
        "1e-4 x max |ORT|; \"reject\": onnx2tf or TensorFlow refused; \"wrong\": it ran and "
        "missed the tolerance. onnx2tf writes channels-last models: inputs are fed and outputs "
        "read with the channel axis moved.",
        "",
        *lines,
    ])
    stamp.write_page("onnx2tf-matrix.md", run, "onnx2tf: the generated matrix", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
