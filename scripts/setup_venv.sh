#!/usr/bin/env bash
# Create (or refresh) the project's Python venv.
#
#   scripts/setup_venv.sh [VENV_DIR]        (default: <repo>/.venv)
#
# The venv is made from Debian's /usr/bin/python3 with --system-site-packages,
# so Debian's python3-torch (1.13.1) is importable, then python/requirements.txt
# is installed into it. Idempotent: pip runs only when the stamp file in the venv
# does not match the sha256 of python/requirements.txt.
#
# Needs these apt packages (the caller installs them):
#   python3 python3-venv python3-torch
# Environment:
#   TFLAYOUT_ALLOW_NO_TORCH=1   do not fail when Debian's torch is missing
#   TFLAYOUT_VENV_FORCE=1       run pip even when the stamp matches
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-"$repo/.venv"}
req="$repo/python/requirements.txt"
name=setup_venv
source "$repo/scripts/venv_common.sh"

venv_check_base_python
if ! "$base_python" -c 'import torch' 2>/dev/null; then
  if [[ ${TFLAYOUT_ALLOW_NO_TORCH:-0} == 1 ]]; then
    say "warning: Debian's torch is not importable; torch-based steps will fail"
  else
    die "Debian's torch is not importable by $base_python (apt-get install python3-torch)"
  fi
fi
venv_open --system-site-packages
venv_is_current && exit 0
venv_install
# Packages whose declared dependencies contradict the pins but that run on them (see the
# "# no-deps:" lines of the requirements file).
mapfile -t no_deps < <(sed -n 's/^# no-deps: *//p' "$req")
if (( ${#no_deps[@]} )); then
  say "installing without dependencies: ${no_deps[*]}"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$venv/bin/python" -m pip install --progress-bar off --no-deps "${no_deps[@]}"
fi

# Smoke test: the pinned stack imports together with Debian's torch.
"$venv/bin/python" - <<'EOF'
import os, warnings
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
import numpy, onnx, onnxruntime, tensorflow, onnx_tf.backend, tf2onnx  # noqa: F401
try:
    import torch
    tv = torch.__version__
except ImportError:
    tv = "missing"
print("setup_venv: numpy %s onnx %s onnxruntime %s tensorflow %s torch %s"
      % (numpy.__version__, onnx.__version__, onnxruntime.__version__,
         tensorflow.__version__, tv))
EOF

venv_stamp
