#!/usr/bin/env bash
# Writes docs/results/tf2onnx.md from the tables the last test runs left in build/:
#   build/tf2onnx_table.md          python/tests/test_tf2onnx.py (.venv)
#   build/tf2onnx_onnx2tf_table.md  python/tests/test_onnx2tf_tf2onnx.py (.venv-onnx2tf)
# with the date, the commit and the machine the tables come from. Run it right after the tests:
#   .venv/bin/python -m pytest python/tests/test_tf2onnx.py -q
#   .venv-onnx2tf/bin/python -m pytest python/tests/test_onnx2tf_tf2onnx.py -q
#   bash scripts/tf2onnx_results.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/docs/results/tf2onnx.md"
tables=("$repo/build/tf2onnx_table.md" "$repo/build/tf2onnx_onnx2tf_table.md")
for t in "${tables[@]}"; do
  [[ -f $t ]] || { echo "tf2onnx_results: missing $t (run the tests first)" >&2; exit 1; }
done
commit=$(git -C "$repo" rev-parse --short HEAD)
dirty=$(git -C "$repo" status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
{
  echo "# Keras models exported by tf2onnx: results"
  echo
  echo "Written by scripts/tf2onnx_results.sh from the tables of one run of the tests below;"
  echo "see docs/tf2onnx.md for what is checked."
  echo
  echo "- date: $(date -u -r "${tables[0]}" '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $commit$dirty"
  echo "- machine: $(uname -sm), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "- $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo
  echo "## ONNX Runtime, onnx-tf and the inverse (python/tests/test_tf2onnx.py)"
  echo
  cat "${tables[0]}"
  echo
  echo "## onnx2tf (python/tests/test_onnx2tf_tf2onnx.py)"
  echo
  cat "${tables[1]}"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
