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
base_python=/usr/bin/python3
stamp_name=.tflayout-requirements.sha256

say() { printf 'setup_venv_onnx2tf: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ -f $req ]] || die "missing $req"
[[ -x $base_python ]] || die "$base_python not found (apt-get install python3)"
"$base_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$base_python is not Python 3.11 (expected Debian 12); requirements are pinned for 3.11"
"$base_python" -c 'import ensurepip, venv' 2>/dev/null \
  || die "Python venv support missing (apt-get install python3-venv)"

[[ -e $venv && ! -d $venv ]] && die "$venv exists and is not a directory"
mkdir -p "$venv"
venv=$(cd "$venv" && pwd)
exec 9<"$venv"
flock 9

if [[ ! -x $venv/bin/python && -n $(ls -A "$venv") ]]; then
  die "$venv exists, is not empty and is not a venv; remove it first"
fi
if [[ -x $venv/bin/python ]]; then
  if grep -Eq '^include-system-site-packages *= *true' "$venv/pyvenv.cfg" 2>/dev/null; then
    die "$venv sees the system site packages (Debian's numpy/torch would leak in); remove it"
  fi
else
  say "creating $venv from $base_python"
  "$base_python" -m venv "$venv"
fi

want=$( { sha256sum "$req" | cut -d' ' -f1; "$venv/bin/python" -VV; } | sha256sum | cut -d' ' -f1)
have=$(cat "$venv/$stamp_name" 2>/dev/null || true)
if [[ $want == "$have" && ${TFLAYOUT_VENV_FORCE:-0} != 1 ]]; then
  say "$venv is up to date"
  exit 0
fi

rm -f "$venv/$stamp_name"
say "installing $req (the first time downloads about 1 GB)"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
  "$venv/bin/python" -m pip install --progress-bar off -r "$req"

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

echo "$want" > "$venv/$stamp_name"
say "done: $venv"
