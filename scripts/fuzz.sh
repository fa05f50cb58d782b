#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + UBSan, clang) in build-fuzz/ and runs each for
# SECONDS (default 60), seeded from models/*.onnx, small generated models and
# tests/regressions/. Prints the executions per target; exits non-zero on a crash (the
# reproducer is left in build-fuzz/artifacts/).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 30         # CI
#   JOBS=2 scripts/fuzz.sh 1800   # long run: 30 min per target
#
# Environment: JOBS (build parallelism, default 2), FUZZ_ARGS (extra libFuzzer flags),
# BUILD_DIR (default build-fuzz).
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-2}"

export CC="${CC:-clang}" CXX="${CXX:-clang++}"
cmake -S "$ROOT" -B "$BUILD" -DTFLAYOUT_BUILD_FUZZERS=ON -DTFLAYOUT_BUILD_TESTS=OFF \
  -DTFLAYOUT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target fuzz_parse_model fuzz_pipeline fuzz_weights_on_disk fuzz_make_seeds

SEEDS="$BUILD/seeds"
rm -rf "$SEEDS"
mkdir -p "$SEEDS" "$BUILD/artifacts"
"$BUILD/fuzz/fuzz_make_seeds" "$SEEDS"
cp "$ROOT"/models/*.onnx "$SEEDS"/
# Regression inputs, except the README and *.KNOWN_FAILURE.* (open bugs that would stop the
# run at once; see tests/regressions/README.md).
find "$ROOT/tests/regressions" -maxdepth 1 -type f ! -name '*.md' ! -name '*.KNOWN_FAILURE.*' \
  -exec cp {} "$SEEDS"/ \;

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
summary=""
for target in fuzz_parse_model fuzz_pipeline fuzz_weights_on_disk; do
  corpus="$BUILD/corpus/$target"
  mkdir -p "$corpus"
  log="$BUILD/$target.log"
  echo "== $target: ${SECONDS_PER_TARGET}s (log: $log)"
  set +e
  # shellcheck disable=SC2086
  "$BUILD/fuzz/$target" "$corpus" "$SEEDS" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=131072 -rss_limit_mb=4096 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$target-" ${FUZZ_ARGS:-} \
    >"$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)"
  line="$target: ${execs:-?} executions in ${SECONDS_PER_TARGET}s, exit $rc"
  echo "$line"
  summary+="$line"$'\n'
  if [[ $rc -ne 0 ]]; then
    status=1
    grep -E 'ERROR|SUMMARY|INVARIANT|Test unit written' "$log" | head -20 || true
  fi
done
echo "---"
printf '%s' "$summary"
exit $status
