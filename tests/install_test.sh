#!/usr/bin/env bash
# Installs the built project into a temporary prefix and builds tests/consumer against it with
# find_package(tflayout), plus a pkg-config build of the C consumer; runs both on a real model.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# Only the public API is installed, flat under include/tflayout/ (no internal headers).
inc="$work/prefix/include/tflayout"
for h in c_api.h pass.h pass_manager.h plugin.h register_builtin_passes.h tflayout.pb.h; do
  [[ -f $inc/$h ]] || { echo "install test: $inc/$h missing" >&2; exit 1; }
done
if find "$inc" -mindepth 1 -type d | grep -q . || [[ -e $inc/permute_kernels.h || -e $inc/wire_format.h ]]; then
  echo "install test: internal headers installed:" >&2; find "$inc" >&2; exit 1
fi
cmake -S "$src/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" -j 2 >/dev/null
export LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}"
"$work/consumer/consumer_cxx" "$src/models/dcgan_generator.onnx" "$work/out_cxx.onnx" | grep -q "rewritten 4"
"$work/consumer/consumer_c" "$src/models/dcgan_generator.onnx" "$work/out_c.onnx" | grep -q "^ok "
cmp "$work/out_cxx.onnx" "$work/out_c.onnx"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc "$src/tests/consumer/consumer.c" -o "$work/consumer_pc" $(pkg-config --cflags --libs tflayout)
"$work/consumer_pc" "$src/models/decoder_3d.onnx" "$work/out_pc.onnx" | grep -q "^ok "
echo "install test: find_package and pkg-config consumers work"
