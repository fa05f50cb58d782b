#!/usr/bin/env bash
# One entry point for set-up, the demo, and the tests. Every sub-command first does what set-up
# it needs (idempotent; a fresh Debian 12 machine needs nothing beforehand but root for apt).
#
#   scripts/dev.sh setup        apt packages, the pinned Python venv (.venv), the CMake build
#   scripts/dev.sh demo [M]     run the default pipeline on models/M.onnx (default dcgan_generator);
#                               needs only a compiler, CMake and Debian's ONNX, Protobuf and
#                               abseil -dev packages (no Python, no test libraries)
#   scripts/dev.sh dist         release artifacts in dist/: the wheel (one for every CPython 3),
#                               the sdist and the .deb (docs/install.md)
#   scripts/dev.sh test         every test: GoogleTest (ctest), the Python equivalence suite (.venv),
#                               the onnx2tf consumer tests (.venv-onnx2tf) and the dist artifacts
#   scripts/dev.sh sanitize     the GoogleTest suite built with ASan + UBSan
#   scripts/dev.sh bench        the permute benchmark (last line: in_place/limit and out_of_place/limit)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFLAYOUT_BUILD_DIR:-$repo/build}
jobs=${TFLAYOUT_JOBS:-2}
say() { printf '== %s\n' "$*" >&2; }

# The demo's packages (what building the library and tflayout-opt needs), then the rest of what
# the tests, the Python venvs, the fuzzers and scripts/dev.sh dist (dpkg-shlibdeps) use.
demo_apt_packages=(cmake g++ make pkg-config libonnx-dev libprotobuf-dev protobuf-compiler
  libabsl-dev)
apt_packages=("${demo_apt_packages[@]}" libgtest-dev libgmock-dev libbenchmark-dev python3
  python3-venv python3-torch python3-torchvision clang libclang-rt-14-dev dpkg-dev)

# install_apt [PACKAGE...]: the given packages, or all of apt_packages.
install_apt() {
  local missing=() wanted=("$@")
  [[ $# -eq 0 ]] && wanted=("${apt_packages[@]}")
  for p in "${wanted[@]}"; do
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
  build_cpp "$build" -DTFLAYOUT_BUILD_TESTS=ON -DTFLAYOUT_BUILD_BENCH=ON
}

# What the demo needs: the apt packages and the tool (a build left by setup is reused as is).
setup_tool() {
  install_apt "${demo_apt_packages[@]}"
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
  TFLAYOUT_OPT="$build/tflayout-opt" TFLAYOUT_LIBRARY="$build/libtflayout.so" \
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

# dist: the wheel (scikit-build-core, then auditwheel bundles the ONNX, Protobuf and abseil
# libraries and picks the manylinux tag), the sdist, and the .deb (CPack from the CMake build).
dist() {
  install_apt "${demo_apt_packages[@]}" python3 python3-venv dpkg-dev
  local tools=$repo/.venv-dist stamp
  stamp=$(sha256sum "$repo/python/requirements-dist.txt" | cut -d' ' -f1)
  if [[ $(cat "$tools/.stamp" 2>/dev/null) != "$stamp" ]]; then
    say "dist tools venv (.venv-dist, pinned by python/requirements-dist.txt)"
    /usr/bin/python3 -m venv "$tools"
    "$tools/bin/python" -m pip install -q --progress-bar off -r "$repo/python/requirements-dist.txt"
    echo "$stamp" >"$tools/.stamp"
  fi
  rm -rf "$repo/dist" "$repo/build-dist"
  mkdir -p "$repo/dist"
  say "wheel (build log: build-dist/wheel.log)"
  mkdir -p "$repo/build-dist"
  if ! (cd "$repo" && CMAKE_BUILD_PARALLEL_LEVEL=$jobs "$tools/bin/python" -m build --wheel \
          --no-isolation -o build-dist/raw .) >"$repo/build-dist/wheel.log" 2>&1; then
    tail -n 60 "$repo/build-dist/wheel.log" >&2
    say "wheel build failed"
    return 1
  fi
  PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair -w "$repo/dist" "$repo"/build-dist/raw/tflayout-*.whl >&2
  "$tools/bin/auditwheel" show "$repo"/dist/tflayout-*.whl >&2
  say "sdist"
  (cd "$repo" && "$tools/bin/python" -m build --sdist --no-isolation -o dist .) >/dev/null
  say "deb (CPack, from the CMake build in $build)"
  if [[ -f $build/CMakeCache.txt ]]; then
    build_cpp "$build"
  else
    build_cpp "$build" -DTFLAYOUT_BUILD_TESTS=OFF -DTFLAYOUT_BUILD_BENCH=OFF
  fi
  (cd "$build" && cpack -G DEB -B "$build/cpack") >"$build/cpack.log" 2>&1 ||
    { tail -n 40 "$build/cpack.log" >&2; say "cpack failed"; return 1; }
  cp "$build"/cpack/tflayout_*.deb "$repo/dist/"
  ls -l "$repo/dist" >&2
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
    dist
    say "dist artifacts (scripts/test_dist.sh; TFLAYOUT_DIST_FULL=1 for every CPython)"
    TFLAYOUT_BUILD_DIR="$build" bash "$repo/scripts/test_dist.sh"
    ;;
  dist) dist ;;
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
