#!/usr/bin/env python3
"""Writes docs/results/real-exporters.md: real PyTorch / ONNX Runtime exports through
tflayout-opt, checked against ONNX Runtime and onnx-tf, by running
python/tests/test_real_exporters.py (which asserts; this script keeps its table).

usage: .venv/bin/python scripts/results/real_exporters.py [--full]
  --full   every opset (8, 9, 13, 17) with and without keep_initializers_as_inputs
           (TFLAYOUT_FULL_EXPORTERS=1); default: the test suite's stratified subset
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamp  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table_path = os.path.join(tmp, "table.md")
        env = stamp.test_env(TFLAYOUT_EXPORTERS_TABLE=table_path,
                             TFLAYOUT_FULL_EXPORTERS="1" if args.full else "0")
        run = stamp.Run(stamp.command_line()).start()
        code = stamp.run_pytest("test_real_exporters.py", env)
        run.finish()
        with open(table_path) as f:
            table = f.read()
    verdict = "all tests passed" if code == 0 else f"**pytest exit code {code}: some tests failed**"
    body = "\n".join([
        f"Set: {'full (opsets 8, 9, 13, 17, each with and without keep_initializers_as_inputs)' if args.full else 'default (the test suite: opset 8 (IR 3), 13 with keep_initializers_as_inputs, 17; plus QDQ and float16)'}; "
        f"`python/tests/test_real_exporters.py`: {verdict}.",
        "",
        "Every ConvTranspose weight must be rewritten; ONNX Runtime on the compensate form is",
        "compared with ONNX Runtime on the original; onnx-tf: stock onnx-tf on the compensate",
        "form / onnx-tf with tflayout's handler on the custom-op form, and stock onnx-tf on the",
        "original model. Errors are max |got - ref| / max |ref|.",
        "",
        table,
    ])
    stamp.write_page("real-exporters.md", run, "Real exporters", body)
    return code


if __name__ == "__main__":
    sys.exit(main())
