#!/usr/bin/env bash
# One entry point for set-up, the demo, and the tests. Every sub-command first does what set-up
# it needs (idempotent; a fresh Debian 12 machine needs nothing beforehand but root for apt).
#
#   scripts/dev.sh setup        apt packages, the pinned Python venv (.venv), the CMake build
#   scripts/dev.sh demo [M]     run the default pipeline on models/M.onnx (default dcgan_generator);
#                               needs only the apt packages and the C++ build (no Python venv)
#   scripts/dev.sh test         every test: GoogleTest (ctest), the Python equivalence suite (.venv)
#                               and the onnx2tf consumer tests (.venv-onnx2tf)
#   scripts/dev.sh sanitize     the GoogleTest suite built with ASan + UBSan
#   scripts/dev.sh bench        the permute benchmark (last line: in_place/limit and out_of_place/limit)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFLAYOUT_BUILD_DIR:-$repo/build}
jobs=${TFLAYOUT_JOBS:-2}
say() { printf '== %s\n' "$*" >&2; }

apt_packages=(cmake g++ make pkg-config libonnx-dev libprotobuf-dev protobuf-compiler libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-venv python3-torch python3-torchvision
  clang libclang-rt-14-dev)

install_apt() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "apt-get install ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures and builds quietly; the full log is $dir/build.log, its tail is shown on failure.
# Arguments: cmake -D options, and optionally --target NAME for the build step.
build_cpp() {
  local dir=$1; shift
  local configure=() target=()
  while [[ $# -gt 0 ]]; do
    if [[ $1 == --target ]]; then target=(--target "$2"); shift 2; else configure+=("$1"); shift; fi
  done
  mkdir -p "$dir"
  if ! { cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${configure[@]}" &&
         cmake --build "$dir" -j "$jobs" "${target[@]}"; } >"$dir/build.log" 2>&1; then
    tail -n 60 "$dir/build.log" >&2
    say "build failed (full log: $dir/build.log)"
    return 1
  fi
}

setup() {
  install_apt
  say "Python venv (.venv, pinned by python/requirements.txt)"
  bash "$repo/scripts/setup_venv.sh" "$repo/.venv"
  say "CMake build in $build"
  build_cpp "$build" -DTFLAYOUT_BUILD_TESTS=ON -DTFLAYOUT_BUILD_BENCH=ON -DTFLAYOUT_BUILD_PYTHON=ON \
    -DPython_EXECUTABLE="$repo/.venv/bin/python" \
    -Dpybind11_DIR="$("$repo/.venv/bin/python" -m pybind11 --cmakedir)"
}

# What the demo needs: the apt packages and the tool (a build left by setup is reused as is).
setup_tool() {
  install_apt
  if [[ -x $build/tflayout-opt ]]; then
    say "CMake build in $build (refresh)"
    build_cpp "$build" --target tflayout-opt
  else
    say "CMake build of tflayout-opt in $build (no Python needed)"
    build_cpp "$build" --target tflayout-opt -DTFLAYOUT_BUILD_TESTS=OFF -DTFLAYOUT_BUILD_BENCH=OFF
  fi
}

run_python_tests() {
  say "pytest python/tests (.venv)"
  TFLAYOUT_OPT="$build/tflayout-opt" TFLAYOUT_NATIVE_DIR="$build/python/tflayout" \
    PYTHONPATH="$repo/python" \
    "$repo/.venv/bin/python" -m pytest "$repo/python/tests" -q -p no:cacheprovider \
    --ignore-glob='*/test_onnx2tf*' "$@"
}

# onnx2tf needs TF 2.19, so its tests run from their own venv; they drive tflayout through the
# tflayout-opt binary (the Python extension is built for .venv).
run_onnx2tf_tests() {
  say "onnx2tf venv (.venv-onnx2tf, pinned by python/requirements-onnx2tf.txt)"
  bash "$repo/scripts/setup_venv_onnx2tf.sh" "$repo/.venv-onnx2tf"
  say "pytest python/tests/test_onnx2tf*.py (.venv-onnx2tf)"
  TFLAYOUT_OPT="$build/tflayout-opt" PYTHONPATH="$repo/python" \
    "$repo/.venv-onnx2tf/bin/python" -m pytest "$repo"/python/tests/test_onnx2tf*.py -q \
    -p no:cacheprovider "$@"
}

case ${1:-} in
  setup) setup ;;
  demo)
    setup_tool
    model=${2:-dcgan_generator}
    out=$(mktemp -d)/"$model"_tf.onnx
    "$build/tflayout-opt" "$repo/models/$model.onnx" -o "$out" --pass-statistics --pass-timing
    say "wrote $out"
    ;;
  test)
    setup
    say "ctest"
    (cd "$build" && ctest --output-on-failure -j "$jobs")
    run_python_tests
    run_onnx2tf_tests
    ;;
  sanitize)
    install_apt
    say "GoogleTest suite under ASan + UBSan"
    build_cpp "$repo/build-asan" -DTFLAYOUT_SANITIZE=ON -DTFLAYOUT_BUILD_BENCH=OFF
    (cd "$repo/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs")
    ;;
  bench)
    install_apt
    build_cpp "$repo/build-release" -DCMAKE_BUILD_TYPE=Release -DTFLAYOUT_BUILD_TESTS=OFF
    "$repo/build-release/bench/permute_bench" "${@:2}"
    ;;
  *)
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 1
    ;;
esac
