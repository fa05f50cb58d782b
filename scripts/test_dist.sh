#!/usr/bin/env bash
# Tests the release artifacts in dist/ (made by scripts/dev.sh dist) as users get them:
#   - per CPython: a fresh venv (pyenv's interpreter), `pip install --find-links dist tflayout`
#     with onnx and onnxruntime from PyPI, then python/tests/packaging/installed_check.py: the
#     tflayout-opt entry point, python -m tflayout and tflayout.run on every model in models/
#     byte-identical to the source build, ONNX Runtime on the result, linkage (ldd, nm -D),
#     import orders beside onnx and onnxruntime (and TensorFlow where chosen);
#   - CPython 3.11 with the TF 2.15 stack pinned in python/requirements.txt: also the onnx-tf
#     handler, the Keras helper and import orders with TensorFlow. By default the wheel, onnx,
#     onnxruntime, numpy and protobuf are installed fresh at the pinned versions and TensorFlow,
#     onnx-tf and Keras are borrowed from the project's .venv (a .pth file appends its
#     site-packages): downloading TF takes minutes. TFLAYOUT_DIST_FULL=1 installs all from PyPI;
#   - the .deb unpacked into a scratch root: its tool gives the same bytes, its Depends are
#     declared, and tests/consumer builds and runs against it (find_package and pkg-config).
# usage: scripts/test_dist.sh            (CPython 3.9, 3.11 with TF, 3.13)
# Environment:
#   TFLAYOUT_BUILD_DIR   the source build to compare with (default: build)
#   TFLAYOUT_DIST_FULL=1 every CPython 3.9..3.13, the newest tensorflow beside the wheel on
#                        3.13, a wheel built from the sdist, and `apt-get install ./dist/*.deb`
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFLAYOUT_BUILD_DIR:-$repo/build}
dist=$repo/dist
full=${TFLAYOUT_DIST_FULL:-0}
say() { printf '== %s\n' "$*" >&2; }
die() { printf 'test_dist: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wheel=$(ls "$dist"/tflayout-*.whl 2>/dev/null | head -n1) || true
deb=$(ls "$dist"/tflayout_*.deb 2>/dev/null | head -n1) || true
[[ -n $wheel && -n $deb ]] || die "no wheel or .deb in $dist (run scripts/dev.sh dist)"
[[ -x $build/tflayout-opt && -f $build/libtflayout.so ]] || die "no source build in $build"

# The source build's outputs: tflayout-opt's files and tflayout.run's bytes (through the same
# C function the Python package calls, driven here by a C program so no venv is needed).
say "reference outputs from the source build in $build"
mkdir -p "$work/ref"
cc -o "$work/run_bytes" "$repo/python/tests/packaging/run_bytes.c" -I"$repo/include" \
  -L"$build" -ltflayout -Wl,-rpath,"$build"
for model in "$repo"/models/*.onnx; do
  name=$(basename "$model" .onnx)
  "$build/tflayout-opt" "$model" -o "$work/ref/$name.tool.onnx" >/dev/null 2>&1
  "$work/run_bytes" "$model" "$work/ref/$name.api.onnx"
done

pyenv_python() {
  local root version
  command -v pyenv >/dev/null || die "pyenv is not on PATH (the CPythons under test come from it)"
  root=$(pyenv root)
  version=$(ls -d "$root"/versions/"$1".* 2>/dev/null | sort -V | tail -n1)
  [[ -x $version/bin/python3 ]] || die "CPython $1 is not installed under pyenv ($root)"
  echo "$version/bin/python3"
}

# check_python VERSION [pip requirements...] -- [installed_check.py flags]
check_python() {
  local version=$1; shift
  local pip_args=() check_args=()
  while [[ $# -gt 0 && $1 != -- ]]; do pip_args+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  check_args=("$@")
  local venv=$work/venv-$version
  say "CPython $version: fresh venv, pip install --find-links dist tflayout ${pip_args[*]}"
  "$(pyenv_python "$version")" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --progress-bar off --find-links "$dist" tflayout \
    onnxruntime "${pip_args[@]}"
  if [[ -n ${borrow:-} ]]; then
    say "CPython $version: TensorFlow, onnx-tf and Keras from $borrow"
    "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' |
      xargs -I{} sh -c "echo '$borrow' > {}/zz_borrowed_tf_stack.pth"
  fi
  (cd "$work" && PATH="$venv/bin:$PATH" "$venv/bin/python" \
    "$repo/python/tests/packaging/installed_check.py" \
    --models "$repo/models" --ref "$work/ref" "${check_args[@]}")
  rm -rf "$venv"
}

# What python/requirements.txt pins for the TF 2.15 stack (onnx-tf and Keras 2 need it).
pinned() {
  local p
  for p in "$@"; do grep -E "^$p==" "$repo/python/requirements.txt"; done
}
tf_flags=(--tensorflow tensorflow-cpu --onnx-tf --keras)

check_python 3.9
if [[ $full == 1 ]]; then
  check_python 3.11 $(pinned numpy protobuf onnx onnxruntime tensorflow-cpu onnx-tf \
    tensorflow-addons tensorflow-probability keras) -- "${tf_flags[@]}"
  check_python 3.10
  check_python 3.12
  check_python 3.13 tensorflow -- --tensorflow tensorflow
else
  venv_site=$(ls -d "$repo"/.venv/lib/python3.11/site-packages 2>/dev/null || true)
  if [[ -n $venv_site ]] && "$repo/.venv/bin/python" -c 'import tensorflow, onnx_tf' 2>/dev/null; then
    borrow=$venv_site check_python 3.11 $(pinned numpy protobuf onnx onnxruntime) astunparse six \
      requests pyyaml \
      -- "${tf_flags[@]}"
  else
    say "CPython 3.11: no TF 2.15 stack in .venv (scripts/dev.sh setup): onnx-tf, Keras and"
    say "TensorFlow import orders skipped"
    check_python 3.11 $(pinned numpy protobuf onnx onnxruntime)
  fi
  check_python 3.13
fi

say "the .deb: metadata, tool bytes, out-of-tree consumer against an unpacked root"
dpkg-deb -f "$deb" Depends | tee "$work/depends" >&2
for p in libonnx libprotobuf libabsl libonnx-dev libprotobuf-dev libabsl-dev; do
  grep -q "$p" "$work/depends" || die "$deb: Depends lacks $p"
done
root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/tflayout-opt usr/include/tflayout/c_api.h usr/include/tflayout/pass_manager.h \
         usr/lib/cmake/tflayout/tflayoutConfig.cmake usr/lib/pkgconfig/tflayout.pc; do
  [[ -e $root/$f ]] || die "$deb lacks /$f"
done
lib=$(dirname "$(find "$root" -name 'libtflayout.so.*' | head -n1)")
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for model in "$repo"/models/*.onnx; do
  name=$(basename "$model" .onnx)
  "$root/usr/bin/tflayout-opt" "$model" -o "$work/deb_$name.onnx" >/dev/null 2>&1
  cmp "$work/deb_$name.onnx" "$work/ref/$name.tool.onnx"
done
cmake -S "$repo/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build "$work/consumer" -j 2 >/dev/null
"$work/consumer/consumer_cxx" "$repo/models/dcgan_generator.onnx" "$work/cxx.onnx" | grep -q "rewritten 4"
"$work/consumer/consumer_c" "$repo/models/dcgan_generator.onnx" "$work/c.onnx" | grep -q "^ok "
cmp "$work/c.onnx" "$work/ref/dcgan_generator.tool.onnx"
PKG_CONFIG_PATH="$root/usr/lib/pkgconfig" \
  cc "$repo/tests/consumer/consumer.c" -o "$work/consumer_pc" $(PKG_CONFIG_PATH="$root/usr/lib/pkgconfig" pkg-config --cflags --libs tflayout)
"$work/consumer_pc" "$repo/models/decoder_3d.onnx" "$work/pc.onnx" | grep -q "^ok "
cmp "$work/pc.onnx" "$work/ref/decoder_3d.tool.onnx"
say "the .deb: tool byte-identical on every model; find_package and pkg-config consumers work"

if [[ $full == 1 ]]; then
  say "apt-get install ./dist/$(basename "$deb")"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
  unset LD_LIBRARY_PATH
  /usr/bin/tflayout-opt "$repo/models/dcgan_generator.onnx" -o "$work/apt.onnx" >/dev/null 2>&1
  cmp "$work/apt.onnx" "$work/ref/dcgan_generator.tool.onnx"
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq tflayout >/dev/null
  say "sdist: pip wheel from $(basename "$(ls "$dist"/tflayout-*.tar.gz)")"
  "$repo/.venv-dist/bin/python" -m pip wheel -q --no-deps -w "$work/sdist_wheel" \
    "$(ls "$dist"/tflayout-*.tar.gz)"
  ls "$work/sdist_wheel"/tflayout-*.whl >&2
fi
say "dist artifacts pass"
