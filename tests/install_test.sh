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
