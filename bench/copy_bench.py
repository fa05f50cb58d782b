#!/usr/bin/env python3
"""tflayout-opt -o against a plain file copy (cat, cp) on two 1 GiB models, side by side.

Models (generated once under --workdir, reused by later runs; the generator is deterministic):
  embedded  64 ConvTranspose layers, float32 weights of (512, 512, 4, 4) = 16 MiB each, inline
  external  the same layers with every weight in one data file (`external.onnx.data`)

Timed commands, one child process each, per model:
  tflayout  tflayout-opt IN -o OUT [--tool-args]      (the default pipeline)
  cat       sh -c 'cat IN > COPY [&& cat IN.data > COPY.data]'
  cp        cp IN [IN.data] OUTDIR/                   (coreutils: copy_file_range)
  baseline  with --baseline TOOL: another tflayout-opt build, same arguments (before/after
            figures from one run; its outputs are compared with tflayout's byte for byte)

Every round runs the commands once per model, in an order that rotates from round to
round, so that a neighbour's load falls on all of them alike. Before every timed command the
machine is put in the same state: the previous outputs are deleted, `sync` writes back every
dirty page (no pending write-back left to slow the next command down or to be charged to it),
and then
  --state warm (default): the inputs are read to the end (`cat IN > /dev/null`), so they are in
                the page cache: the copy then measures memory and the write path, not the disk.
                The usual case of a model converted right after it was exported or downloaded,
                and the state that does not evict the other users' caches on a shared machine.
  --state cold: `echo 1 > /proc/sys/vm/drop_caches` (root): every command reads from the disk.
`fincore` reports how much of the inputs the page cache held before the first command.

Wall time: time.perf_counter around the child (GNU time runs it: its %M is the peak RSS of
exactly that process, %U + %S its CPU time, which a neighbour's load disturbs much less than the
wall time: on a saturated machine the wall-time ratio follows the CPU-time ratio). Per model and command: best and median over --rounds. The ratios use
medians: copy/tflayout = median(cat) / median(tflayout) (>= 1: tflayout-opt is as fast as cat).
The sha256 of tflayout-opt's outputs (model and data file) are printed, from the first round.

With --results FILE, a section with date, commit, machine (CPUs, memory, load average before and
after), the table and the last line is appended to FILE (docs/results/copy_speed.md).

The last line printed is `copy/tflayout embedded=<r> external=<r>`; with --baseline it follows
`baseline/tflayout embedded=<r> external=<r>` (> 1: the tool is faster than the baseline).

  .venv/bin/python bench/copy_bench.py --tool build-release/tflayout-opt \
      --workdir /work/bench-data --rounds 7 --results docs/results/copy_speed.md --label after
"""

import argparse
import datetime
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LAYERS = 64
SHAPE = (512, 512, 4, 4)
LAYER_BYTES = 512 * 512 * 16 * 4  # 16 MiB
MIB = 1 << 20


# ---- model generation (runs in a child: copy_bench.py --generate KIND PATH LAYERS) --------------

def make_model(initializers, layers):
    from onnx import TensorProto, helper

    nodes, x = [], "X"
    for i in range(layers):
        y = f"Y{i}"
        nodes.append(helper.make_node("ConvTranspose", [x, f"W{i}"], [y], name=f"deconv{i}",
                                      pads=[1, 1, 2, 2]))  # keeps 8 x 8
        x = y
    graph = helper.make_graph(
        nodes, "copy_bench",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, SHAPE[0], 8, 8])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, SHAPE[1], 8, 8])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def layer_bytes(i):
    import numpy as np

    # Distinct values per element and layer, so that a misplaced element shows in the hash.
    base = np.arange(512 * 512 * 16, dtype=np.float32)
    return (base * np.float32(1e-3) + np.float32(i)).tobytes()


def generate(kind, path, layers):
    from onnx import TensorProto

    tensors = []
    data = open(path + ".data", "wb") if kind == "external" else None
    for i in range(layers):
        t = TensorProto()
        t.name, t.data_type = f"W{i}", TensorProto.FLOAT
        t.dims.extend(SHAPE)
        if data is None:
            t.raw_data = layer_bytes(i)
        else:
            offset = data.tell()
            data.write(layer_bytes(i))
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", os.path.basename(path) + ".data"), ("offset", str(offset)),
                         ("length", str(LAYER_BYTES))):
                e = t.external_data.add()
                e.key, e.value = k, v
        tensors.append(t)
    if data is not None:
        data.close()
    with open(path, "wb") as f:
        f.write(make_model(tensors, layers).SerializeToString())


# ---- measuring ----------------------------------------------------------------------------------

def files_of(model):
    return [p for p in (model, model + ".data") if os.path.exists(p)]


def sha256_of(paths):
    out = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(16 * MIB):
                h.update(chunk)
        out.append(f"{os.path.basename(p)}={h.hexdigest()}")
    return " ".join(out)


def clear_dir(d):
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))


def settle(inputs, outdir, state):
    """Same page-cache and write-back state before every timed command (see the docstring)."""
    clear_dir(outdir)
    os.sync()
    if state == "cold":
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    else:
        for p in inputs:
            subprocess.run(["cat", p], stdout=subprocess.DEVNULL, check=True)
    os.sync()


def timed(cmd):
    """Runs cmd (a list) under GNU time; returns (wall seconds, peak RSS MiB, CPU seconds)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name] + cmd
        start = time.perf_counter()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
        rss_kib, user, system = tf.read().split()[-3:]
    return wall, int(rss_kib) / 1024.0, float(user) + float(system)


def commands(tool, tool_args, model, outdir, baseline=None):
    ins = files_of(model)
    copy = os.path.join(outdir, "copy.onnx")
    cat = " && ".join(f"cat '{p}' > '{copy}{p[len(model):]}'" for p in ins)
    cmds = {
        "tflayout": [tool, model, "-o", os.path.join(outdir, "out.onnx"), "--quiet"] + tool_args,
        "cat": ["sh", "-c", cat],
        "cp": ["cp"] + ins + [outdir + "/"],
    }
    if baseline:
        # The same output name (the directory is emptied before every command): the model file
        # names its data file, so equal outputs hash equal.
        cmds["baseline"] = [baseline] + cmds["tflayout"][1:]
    return cmds


def machine_facts():
    model_name = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return f"{os.cpu_count()} CPUs ({model_name}), {mem} memory, kernel {os.uname().release}"


def git_commit(repo):
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tool", default=os.path.join(root, "build-release", "tflayout-opt"))
    ap.add_argument("--tool-args", default="", help="extra tflayout-opt flags, e.g. --threads=2")
    ap.add_argument("--baseline", help="another tflayout-opt build (say, of the previous commit), "
                    "timed in the same rotation; its outputs must equal --tool's byte for byte")
    ap.add_argument("--workdir", default="/work/bench-data")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layers", type=int, default=LAYERS, help="16 MiB weights per model")
    ap.add_argument("--state", choices=("warm", "cold"), default="warm")
    ap.add_argument("--results", help="append a section to this Markdown file")
    ap.add_argument("--label", default="run", help="section title in --results")
    ap.add_argument("--note", default="", help="a paragraph under the section title")
    ap.add_argument("--clean", action="store_true", help="delete the generated models at the end")
    ap.add_argument("--generate", nargs=3, metavar=("KIND", "PATH", "LAYERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(args.generate[0], args.generate[1], int(args.generate[2]))
        return
    for tool in filter(None, (args.tool, args.baseline)):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool}: not an executable (build tflayout-opt in Release first)")
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("/usr/bin/time (GNU time) is needed to measure peak RSS")

    os.makedirs(args.workdir, exist_ok=True)
    outdir = os.path.join(args.workdir, "out")
    os.makedirs(outdir, exist_ok=True)
    models = {}
    for kind in ("embedded", "external"):
        path = os.path.join(args.workdir, f"{kind}{args.layers}.onnx")
        models[kind] = path
        tag = path + ".complete"
        if not os.path.exists(tag):
            need = 3 * args.layers * LAYER_BYTES
            if shutil.disk_usage(args.workdir).free < need:
                sys.exit(f"{args.workdir}: needs {need / 2**30:.1f} GiB free")
            t0 = time.monotonic()
            subprocess.run([sys.executable, os.path.abspath(__file__), "--generate", kind, path,
                            str(args.layers)], check=True)
            open(tag, "w").close()
            print(f"generated {path}: {time.monotonic() - t0:.1f} s", flush=True)

    tool_args = args.tool_args.split()
    commit = git_commit(root)  # of the tree the tool was built from, before any edit during the run
    load_before = loadavg()
    print(f"machine: {machine_facts()}; load average {load_before}", flush=True)
    names = list(commands(args.tool, tool_args, models["embedded"], outdir, args.baseline))
    times = {k: {c: [] for c in names} for k in models}
    rss = {k: {c: [] for c in names} for k in models}
    cpu = {k: {c: [] for c in names} for k in models}
    hashes = {}
    base_hashes = {}
    residency = {}
    for r in range(args.rounds):
        for kind, model in models.items():
            cmds = commands(args.tool, tool_args, model, outdir, args.baseline)
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                settle(files_of(model), outdir, args.state)
                if r == 0 and kind not in residency:
                    residency[kind] = subprocess.run(
                        ["fincore", "--bytes", "--noheadings", "-o", "RES,SIZE"] + files_of(model),
                        capture_output=True, text=True).stdout.split()
                wall, peak, cpu_s = timed(cmds[name])
                times[kind][name].append(wall)
                rss[kind][name].append(peak)
                cpu[kind][name].append(cpu_s)
                if name == "tflayout" and kind not in hashes:
                    hashes[kind] = sha256_of(files_of(os.path.join(outdir, "out.onnx")))
                if name == "baseline" and kind not in base_hashes:
                    base_hashes[kind] = sha256_of(files_of(os.path.join(outdir, "out.onnx")))
            print(f"round {r + 1}/{args.rounds} {kind}: " +
                  "  ".join(f"{n} {times[kind][n][-1]:.3f}s" for n in names), flush=True)
    clear_dir(outdir)
    load_after = loadavg()

    lines = []
    lines.append("| model | command | best s | median s | peak RSS MiB (max) | GB/s (median) "
                 "| CPU s (user+sys, median) |")
    lines.append("|---|---|---|---|---|---|---|")
    ratios = {}
    for kind, model in models.items():
        size = sum(os.path.getsize(p) for p in files_of(model))
        for name in names:
            t = times[kind][name]
            med = statistics.median(t)
            lines.append(f"| {kind} | {name} | {min(t):.3f} | {med:.3f} | "
                         f"{max(rss[kind][name]):.1f} | {size / med / 1e9:.2f} | "
                         f"{statistics.median(cpu[kind][name]):.2f} |")
        ratios[kind] = (statistics.median(times[kind]["cat"]) /
                        statistics.median(times[kind]["tflayout"]),
                        statistics.median(times[kind]["cp"]) /
                        statistics.median(times[kind]["tflayout"]))
    info = [f"tool: `{args.tool}{(' ' + args.tool_args) if args.tool_args else ''}`, "
            f"commit {commit}",
            f"machine: {machine_facts()}",
            f"load average (1/5/15 min) before: {load_before}, after: {load_after}",
            f"state before each command: {args.state}; {args.rounds} rounds, order rotating",
            "page cache before the first command (resident/size bytes): " +
            "; ".join(f"{k} {' '.join(v)}" for k, v in residency.items())]
    info += [f"sha256 {kind}: {h}" for kind, h in hashes.items()]
    if args.baseline:
        info.append(f"baseline: `{args.baseline}`; outputs byte for byte equal to the tool's: " +
                    ", ".join(f"{k} {'yes' if base_hashes[k] == hashes[k] else 'NO'}"
                              for k in models))
    summary = []
    if args.baseline:
        summary.append("baseline/tflayout " + " ".join(
            f"{k}={statistics.median(times[k]['baseline']) / statistics.median(times[k]['tflayout']):.2f}"
            for k in models))
    summary += [f"cp/tflayout embedded={ratios['embedded'][1]:.2f} "
               f"external={ratios['external'][1]:.2f}",
               f"copy/tflayout embedded={ratios['embedded'][0]:.2f} "
               f"external={ratios['external'][0]:.2f}"]
    print("\n".join(info + [""] + lines + [""] + summary), flush=True)

    if args.results:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
        new = not os.path.exists(args.results)
        with open(args.results, "a") as f:
            if new:
                f.write("# tflayout-opt -o against a file copy (1 GiB models)\n\n"
                        "Written by `bench/copy_bench.py --results` (one section per run, "
                        "appended); see its docstring for the method.\n")
            f.write(f"\n## {args.label} ({when})\n\n")
            if args.note:
                f.write(args.note.strip() + "\n\n")
            f.write("\n".join(f"- {x}" for x in info) + "\n\n")
            f.write("\n".join(lines) + "\n\n```\n" + "\n".join(summary) + "\n```\n")
    if args.clean:
        for model in models.values():
            for p in files_of(model) + [model + ".complete"]:
                os.unlink(p)
    print(summary[-1])


if __name__ == "__main__":
    main()
