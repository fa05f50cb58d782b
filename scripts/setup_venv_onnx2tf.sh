#!/usr/bin/env bash
# Create (or refresh) the onnx2tf venv used by python/tests/test_onnx2tf*.py.
#
#   scripts/setup_venv_onnx2tf.sh [VENV_DIR]        (default: <repo>/.venv-onnx2tf)
#
# onnx2tf 1.29 pins TF 2.19 / onnx 1.19 exactly; the project venv (.venv) needs TF 2.15 for
# onnx-tf, so onnx2tf gets its own venv, made from Debian's /usr/bin/python3 without system
# site packages, with python/requirements-onnx2tf.txt installed. Idempotent: pip runs only
# when the stamp in the venv does not match the requirements file and the interpreter.
# The first install downloads about 1 GB (TF 2.19) and takes minutes.
# Environment:
#   TFLAYOUT_VENV_FORCE=1   run pip even when the stamp matches
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-"$repo/.venv-onnx2tf"}
req="$repo/python/requirements-onnx2tf.txt"
name=setup_venv_onnx2tf
source "$repo/scripts/venv_common.sh"

venv_check_base_python
venv_open
venv_is_current && exit 0
venv_install

# Smoke test: what the tests import, including what onnx2tf imports at conversion time.
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" - <<'PY'
import warnings
warnings.filterwarnings("ignore")
import numpy, onnx, onnxruntime, onnxsim, tensorflow, onnx2tf, onnx_graphsurgeon, tf_keras  # noqa: F401
from ai_edge_litert.interpreter import Interpreter  # noqa: F401
print("setup_venv_onnx2tf: onnx2tf %s tensorflow %s onnx %s onnxruntime %s onnxsim %s numpy %s"
      % (onnx2tf.__version__, tensorflow.__version__, onnx.__version__, onnxruntime.__version__,
         onnxsim.__version__, numpy.__version__))
PY

venv_stamp
