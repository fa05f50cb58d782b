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
base_python=/usr/bin/python3
stamp_name=.tflayout-requirements.sha256

say() { printf 'setup_venv: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ -f $req ]] || die "missing $req"
[[ -x $base_python ]] || die "$base_python not found (apt-get install python3)"
"$base_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$base_python is not Python 3.11 (expected Debian 12); requirements are pinned for 3.11"
"$base_python" -c 'import ensurepip, venv' 2>/dev/null \
  || die "Python venv support missing (apt-get install python3-venv)"
if ! "$base_python" -c 'import torch' 2>/dev/null; then
  if [[ ${TFLAYOUT_ALLOW_NO_TORCH:-0} == 1 ]]; then
    say "warning: Debian's torch is not importable; torch-based steps will fail"
  else
    die "Debian's torch is not importable by $base_python (apt-get install python3-torch)"
  fi
fi

[[ -e $venv && ! -d $venv ]] && die "$venv exists and is not a directory"
mkdir -p "$venv"
venv=$(cd "$venv" && pwd)

# Serialize concurrent runs on the same venv (lock the directory itself, so no
# stray lock file is left in the work tree).
exec 9<"$venv"
flock 9

if [[ ! -x $venv/bin/python && -n $(ls -A "$venv") ]]; then
  die "$venv exists, is not empty and is not a venv; remove it first"
fi
if [[ -x $venv/bin/python ]]; then
  cfg="$venv/pyvenv.cfg"
  if ! grep -Eq '^include-system-site-packages *= *true' "$cfg" 2>/dev/null \
     || ! grep -Eq '^home *= */usr/bin$' "$cfg" 2>/dev/null; then
    die "$venv was not made from $base_python with --system-site-packages; remove it and rerun"
  fi
else
  say "creating $venv from $base_python (--system-site-packages)"
  "$base_python" -m venv --system-site-packages "$venv"
fi

want=$( { sha256sum "$req" | cut -d' ' -f1; "$venv/bin/python" -VV; } | sha256sum | cut -d' ' -f1)
have=$(cat "$venv/$stamp_name" 2>/dev/null || true)
if [[ $want == "$have" && ${TFLAYOUT_VENV_FORCE:-0} != 1 ]]; then
  say "$venv is up to date"
  exit 0
fi

rm -f "$venv/$stamp_name"
say "installing $req"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
  "$venv/bin/python" -m pip install --progress-bar off -r "$req"

# Smoke test: the pinned stack imports together with Debian's torch.
"$venv/bin/python" - <<'EOF'
import os, warnings
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
import numpy, onnx, onnxruntime, tensorflow, onnx_tf.backend  # noqa: F401
try:
    import torch
    tv = torch.__version__
except ImportError:
    tv = "missing"
print("setup_venv: numpy %s onnx %s onnxruntime %s tensorflow %s torch %s"
      % (numpy.__version__, onnx.__version__, onnxruntime.__version__,
         tensorflow.__version__, tv))
EOF

echo "$want" > "$venv/$stamp_name"
say "done: $venv"
