#!/usr/bin/env python3
"""Writes docs/results/permute-bench.md: bench/permute_bench's tables (the permute kernels
against this machine's copy limits, measured side by side in one process) and its last line,
in_place/limit and out_of_place/limit over the DRAM-resident shapes.

usage: python3 scripts/results/permute_bench.py [--bench PATH] [-- BENCH_ARGS...]
  --bench PATH   the benchmark binary (default: build-bench/permute_bench, built here with
                 cmake -S bench -B build-bench -DCMAKE_BUILD_TYPE=Release when missing)
  BENCH_ARGS     passed on, e.g. -- --reps=7 --cpu-time   (default: --reps=5)
Method and flags: bench/README.md.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamp  # noqa: E402

DEFAULT_BENCH = os.path.join(stamp.REPO, "build-bench", "permute_bench")


def build_standalone():
    build = os.path.dirname(DEFAULT_BENCH)
    jobs = os.environ.get("TFLAYOUT_JOBS", "2")
    subprocess.run(["cmake", "-S", os.path.join(stamp.REPO, "bench"), "-B", build,
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "-j", jobs, "--target", "permute_bench"],
                   check=True, stdout=subprocess.DEVNULL)


def caches():
    out = []
    for name, key in (("L1d", "LEVEL1_DCACHE_SIZE"), ("L2", "LEVEL2_CACHE_SIZE"),
                      ("L3", "LEVEL3_CACHE_SIZE")):
        try:
            size = int(subprocess.run(["getconf", key], capture_output=True, text=True).stdout)
        except (OSError, ValueError):
            continue
        if size > 0:
            out.append(f"{name} {size >> 10} KiB")
    return ", ".join(out) or "unknown"


def main():
    argv = sys.argv[1:]
    bench_args = ["--reps=5"]
    if "--" in argv:
        i = argv.index("--")
        argv, bench_args = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default=DEFAULT_BENCH)
    args = parser.parse_args(argv)
    if args.bench == DEFAULT_BENCH and not os.path.isfile(DEFAULT_BENCH):
        build_standalone()
    run = stamp.Run(stamp.command_line() if "--" in sys.argv else
                    stamp.command_line() + " -- " + " ".join(bench_args)).start()
    proc = subprocess.run([args.bench, *bench_args], capture_output=True, text=True)
    run.finish()
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        return proc.returncode
    lines = proc.stdout.rstrip().splitlines()
    body = "\n".join([
        f"One thread unless `--threads` says otherwise; caches: {caches()}. Rates in GB/s, best of "
        "the rounds, every variant once per round. Limits: out-of-place max(memcpy, streaming "
        "copy); in-place rmw / 2 (one read-modify-write pass, two passes needed). The geometric "
        "means are over each table's shapes; the last line is over the DRAM-resident ones "
        "(>= 64 MiB).",
        "",
        f"**{lines[-1]}**",
        "",
        "```",
        *lines,
        "```",
    ])
    stamp.write_page("permute-bench.md", run, "Permute kernels against the copy limits", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
