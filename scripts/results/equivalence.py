#!/usr/bin/env python3
"""Writes docs/results/equivalence.md: the generated ConvTranspose configurations through
TensorFlow, against ONNX Runtime, by running python/tests/test_equivalence_tf.py with every
path, including stock onnx-tf on the original model as the baseline (path o), and rendering
its summary with tools/equivalence_table.py.

usage: .venv/bin/python scripts/results/equivalence.py [--count N] [--neg-count N]
  defaults: the test suite's 520 configurations + 150 with negative total padding
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamp  # noqa: E402

sys.path.insert(0, os.path.join(stamp.REPO, "tools"))
import equivalence_table  # noqa: E402

PATHS = {
    "a": "the annotation + the TF-layout kernel through `tf.nn` (asserted in the test)",
    "b": "onnx-tf 1.10 + tflayout's handler on the custom-op form (asserted)",
    "c": "stock onnx-tf 1.10 on the compensate form (asserted)",
    "o": "stock onnx-tf 1.10 on the original model: the baseline, measured only",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=520)
    parser.add_argument("--neg-count", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = os.path.join(tmp, "summary.json")
        env = stamp.test_env(TFLAYOUT_EQ_SUMMARY=summary_path, TFLAYOUT_EQ_PATHS="abco",
                             TFLAYOUT_EQ_COUNT=args.count, TFLAYOUT_EQ_NEG_COUNT=args.neg_count)
        run = stamp.Run(stamp.command_line()).start()
        code = stamp.run_pytest("test_equivalence_tf.py", env)
        run.finish()
        with open(summary_path) as f:
            summary = json.load(f)
    verdict = "all tests passed" if code == 0 else f"**pytest exit code {code}: some tests failed**"
    body = "\n".join(
        [f"`python/tests/test_equivalence_tf.py` with every path: {verdict}. Paths:", ""] +
        [f"- ({p}) {text}" for p, text in PATHS.items()] +
        ["",
         "Reference: ONNX Runtime on the original model (float16: on a float32 copy; float64:",
         "`tflayout.reference`, a NumPy ConvTranspose accumulating in float64, itself checked",
         "against ONNX Runtime in float32). \"reject\": the consumer raised; \"wrong\": it ran and",
         "missed the tolerance.",
         "",
         equivalence_table.render(summary)])
    stamp.write_page("equivalence.md", run, "Equivalence with TensorFlow", body)
    return code


if __name__ == "__main__":
    sys.exit(main())
