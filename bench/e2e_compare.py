#!/usr/bin/env python3
"""End-to-end comparison: the usual Python recipe vs tflayout-opt on whole models.

Generates
  (i)  a model with embedded weights (~1 GiB at --scale 1: ConvTranspose layers with float32
       weights of (512, 256, 4, 4) and (256, 512, 4, 4), 8 MiB each), and
  (ii) a model with external data (~8 GiB at --scale 1, the same layers in one .data file),
then runs, each as its own child process under GNU time (wall time and peak RSS of exactly that
process; rusage deltas of RUSAGE_CHILDREN are not per child, and a child spawned from a big
Python process starts with the parent's RSS as its peak):

  recipe          onnx.load, numpy.ascontiguousarray(w.transpose(2, 3, 1, 0)) for every
                  ConvTranspose weight, onnx.save (with external data for (ii))
  tflayout-opt    the default pipeline, -o OUT: weights stay on disk until they are written
                  (large embedded ones of (i) too, lib/io/weights_on_disk.h), one tensor at a time
  --no-stream     (i) only: the same with the whole model loaded into memory
  --in-place      (ii) only: tflayout-opt --in-place on the generated model
and (iii) a model whose one ConvTranspose weight is 1 GiB (--large-channels 4096), embedded
and external: tflayout-opt -o on both, --in-place on the external one, every element checked;
peak RSS there is the memory bound (tiles, not tensors; docs/large-models.md, "Memory").

and prints a table and the ratios the project tracks:
  (i)  speedup recipe / tflayout >= 10 and tflayout peak RSS <= 1.25 x model file
  (ii) --in-place peak RSS <= 64 MiB

Run with the project venv:  .venv/bin/python bench/e2e_compare.py [--scale S]
Generated files go under --workdir (default: a temporary folder in /tmp) and are removed at
the end unless --keep is given.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

LAYER_SHAPES = [(512, 256, 4, 4), (256, 512, 4, 4)]  # alternate so the chain is valid
LAYER_BYTES = 512 * 256 * 4 * 4 * 4  # 8 MiB
GIB = 1 << 30
MIB = 1 << 20
PERM = (2, 3, 1, 0)


# ---- the recipe (runs in a child: `e2e_compare.py --recipe IN OUT [--external]`) ----------------

def recipe(inp, out, external):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(inp)  # loads external data too
    inits = {t.name: i for i, t in enumerate(model.graph.initializer)}
    for node in model.graph.node:
        if node.op_type != "ConvTranspose" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        i = inits[node.input[1]]
        w = numpy_helper.to_array(model.graph.initializer[i])
        tf = np.ascontiguousarray(w.transpose(PERM))
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(tf, node.input[1]))
    if external:
        onnx.save(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=os.path.basename(out) + ".data", size_threshold=1024)
    else:
        onnx.save(model, out)


# ---- model generation ---------------------------------------------------------------------------

def make_graph(layers, initializers):
    from onnx import TensorProto, helper

    nodes = []
    x = "X"
    for i in range(layers):
        y = f"Y{i}"
        nodes.append(helper.make_node("ConvTranspose", [x, f"W{i}"], [y], name=f"deconv{i}",
                                      pads=[1, 1, 2, 2]))  # keeps 8 x 8
        x = y
    c_out = LAYER_SHAPES[(layers - 1) % 2][1]
    graph = helper.make_graph(
        nodes, "e2e",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 512, 8, 8])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, c_out, 8, 8])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def layer_values(i, base):
    return base * 1e-3 + float(i)


def generate_embedded(path, layers):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    base = np.arange(512 * 256 * 16, dtype=np.float32)
    inits = []
    for i in range(layers):
        w = layer_values(i, base).reshape(LAYER_SHAPES[i % 2])
        inits.append(numpy_helper.from_array(w, f"W{i}"))
    onnx.save(make_graph(layers, inits), path)


def generate_external(path, layers):
    import numpy as np
    import onnx
    from onnx import TensorProto

    base = np.arange(512 * 256 * 16, dtype=np.float32)
    data_name = os.path.basename(path) + ".data"
    inits = []
    with open(path + ".data", "wb") as f:
        for i in range(layers):
            offset = f.tell()
            layer_values(i, base).tofile(f)
            t = TensorProto()
            t.name = f"W{i}"
            t.data_type = TensorProto.FLOAT
            t.dims.extend(LAYER_SHAPES[i % 2])
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", data_name), ("offset", str(offset)),
                         ("length", str(LAYER_BYTES))):
                e = t.external_data.add()
                e.key, e.value = k, v
            inits.append(t)
    onnx.save(make_graph(layers, inits), path)


# ---- one large weight (memory bounded by tiles, not tensors) ------------------------------------

def large_weight_tensor(c, external_name=None):
    from onnx import TensorProto

    t = TensorProto()
    t.name, t.data_type = "W", TensorProto.FLOAT
    t.dims.extend([c, c, 4, 4])
    if external_name:
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", external_name), ("offset", "0"), ("length", str(c * c * 64))):
            e = t.external_data.add()
            e.key, e.value = k, v
    return t


def large_weight_model(c, weight):
    from onnx import TensorProto, helper

    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], name="deconv")
    graph = helper.make_graph(
        [node], "large", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, c, 1, 1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, c, 4, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def write_index_pattern(f, count):
    """Element i holds the 32-bit pattern i (written in 16 MiB chunks)."""
    import numpy as np

    step = 1 << 22
    for first in range(0, count, step):
        np.arange(first, min(count, first + step), dtype=np.uint32).tofile(f)


def generate_large(path, c, external):
    """(C, C, 4, 4) float32 weight holding its own indices; embedded or in `<path>.data`."""
    if external:
        with open(path + ".data", "wb") as f:
            write_index_pattern(f, c * c * 16)
        with open(path, "wb") as f:
            f.write(large_weight_model(c, large_weight_tensor(c, os.path.basename(path) + ".data"))
                    .SerializeToString())
        return
    # The payload is appended as the tensor's last field (raw_data, 9) and the initializer as
    # the graph's last known field before input/output: serialize around it by hand.
    from onnx import GraphProto, ModelProto

    def header(number, length):
        out, tag = bytearray(), (number << 3) | 2
        for v in (tag, length):
            while True:
                b = v & 0x7F
                v >>= 7
                out.append(b | (0x80 if v else 0))
                if not v:
                    break
        return bytes(out)

    full = large_weight_model(c, large_weight_tensor(c))
    payload = c * c * 64
    tensor = full.graph.initializer[0].SerializeToString() + header(9, payload)
    head, tail = GraphProto(), GraphProto()
    head.node.extend(full.graph.node)
    head.name = full.graph.name
    tail.input.extend(full.graph.input)
    tail.output.extend(full.graph.output)
    init = header(5, len(tensor) + payload)
    graph_len = len(head.SerializeToString()) + len(init) + len(tensor) + payload + \
        len(tail.SerializeToString())
    m_head, m_tail = ModelProto(), ModelProto()
    m_head.ir_version = full.ir_version
    m_tail.opset_import.extend(full.opset_import)
    with open(path, "wb") as f:
        f.write(m_head.SerializeToString() + header(7, graph_len) + head.SerializeToString() +
                init + tensor)
        write_index_pattern(f, c * c * 16)
        f.write(tail.SerializeToString() + m_tail.SerializeToString())


def check_large(out, c):
    """Every element of W__tf, read in chunks: position (s, b, a) holds index (a, b, s)."""
    import numpy as np
    import onnx

    model = onnx.load(out, load_external_data=False)
    t = next(t for t in model.graph.initializer if t.name == "W__tf")
    if list(t.dims) != [4, 4, c, c]:
        sys.exit(f"{out}: W__tf has dims {list(t.dims)}")
    rows = c * c  # one s: (B, A) = (c, c)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        ref = {e.key: e.value for e in t.external_data}
        f = open(os.path.join(os.path.dirname(out), ref["location"]), "rb")
        f.seek(int(ref["offset"]))
        plane = lambda s: np.fromfile(f, dtype=np.uint32, count=rows)  # noqa: E731
    else:
        data = np.frombuffer(t.raw_data, dtype=np.uint32)
        plane = lambda s: data[s * rows:(s + 1) * rows]  # noqa: E731
    b = np.arange(c, dtype=np.uint64)[:, None]
    a = np.arange(c, dtype=np.uint64)[None, :]
    for s in range(16):
        if not np.array_equal(plane(s).reshape(c, c), ((a * c + b) * 16 + s).astype(np.uint32)):
            sys.exit(f"{out}: W__tf is not the TF-layout transpose of the input (s={s})")


# ---- measurement ----------------------------------------------------------------------------------

def measure(cmd, label):
    """Runs cmd under GNU time; returns (wall seconds, peak RSS bytes)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%e %R %M", "-o", tf.name] + cmd
        start = time.monotonic()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"{label} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        fields = open(tf.name).read().split()
        if os.environ.get("E2E_DEBUG"):
            print(label, "time:", " ".join(fields), flush=True)
    return wall, int(fields[-1]) * 1024


def tensor_bytes(model_path, name):
    """The bytes of initializer `name`, embedded or external, without loading the model's data."""
    import onnx

    model = onnx.load(model_path, load_external_data=False)
    for t in model.graph.initializer:
        if t.name != name:
            continue
        if t.data_location != onnx.TensorProto.EXTERNAL:
            return t.raw_data
        ref = {e.key: e.value for e in t.external_data}
        with open(os.path.join(os.path.dirname(model_path), ref["location"]), "rb") as f:
            f.seek(int(ref.get("offset", 0)))
            return f.read(int(ref["length"]))
    raise KeyError(name)


def check_weights(out, layers, suffix):
    """First and last weight of `out` are the generated values in TF layout."""
    import numpy as np

    base = np.arange(512 * 256 * 16, dtype=np.float32)
    for i in sorted({0, layers - 1}):
        want = np.ascontiguousarray(layer_values(i, base).reshape(LAYER_SHAPES[i % 2])
                                    .transpose(PERM)).tobytes()
        if tensor_bytes(out, f"W{i}{suffix}") != want:
            sys.exit(f"{out}: weight W{i} is not the TF-layout transpose of the input")


def file_size(path):
    size = os.path.getsize(path)
    if os.path.exists(path + ".data"):
        size += os.path.getsize(path + ".data")
    return size


def remove_model(path):
    for p in (path, path + ".data"):
        if os.path.exists(p):
            os.remove(p)


def find_tool(root):
    for cand in ("build-release/tflayout-opt", "build/tflayout-opt"):
        p = os.path.join(root, cand)
        if os.access(p, os.X_OK):
            return p
    return shutil.which("tflayout-opt")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--recipe":
        recipe(sys.argv[2], sys.argv[3], "--external" in sys.argv[4:])
        return

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="size factor for both models (1: ~1 GiB embedded, ~8 GiB external)")
    ap.add_argument("--embedded-gib", type=float, default=1.0)
    ap.add_argument("--external-gib", type=float, default=8.0)
    ap.add_argument("--tool", default=None, help="tflayout-opt binary")
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--large-channels", type=int, default=4096,
                    help="(iii) one weight of C x C x 4 x 4 float32 (4096: 1 GiB); 0 skips it")
    args = ap.parse_args()

    tool = args.tool or find_tool(root)
    if not tool:
        sys.exit("tflayout-opt not found; build it or pass --tool")
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("/usr/bin/time (GNU time) is needed to measure peak RSS")

    emb_layers = max(2, int(args.embedded_gib * args.scale * GIB // LAYER_BYTES))
    emb_layers = min(emb_layers, (2 * GIB - 64 * MIB) // LAYER_BYTES)  # protobuf's 2 GiB limit
    ext_layers = max(2, int(args.external_gib * args.scale * GIB // LAYER_BYTES))

    # Disk: input + recipe output + tflayout output of each model, i.e. 3x.
    free = shutil.disk_usage(args.workdir).free
    need = 3 * (emb_layers + ext_layers) * LAYER_BYTES
    if need > free:
        factor = free / need * 0.9
        ext_layers = max(2, int(ext_layers * factor))
        emb_layers = max(2, int(emb_layers * factor))
        print(f"NOTE: only {free / GIB:.1f} GiB free in {args.workdir}; scaled the models down "
              f"by {factor:.2f} to leave 3x room")
    # Memory: the recipe holds the whole external model (plus copies of a layer).
    try:
        avail = int([l.split()[1] for l in open("/proc/meminfo")
                     if l.startswith("MemAvailable:")][0]) * 1024
    except (OSError, IndexError, ValueError):
        avail = None
    # The recipe's peak is about 2.2x the external model (measured): run it only with room.
    ext_recipe = avail is None or ext_layers * LAYER_BYTES * 2.3 < avail * 0.8
    if not ext_recipe:
        print(f"NOTE: {avail / GIB:.1f} GiB of memory available; the recipe would need about "
              f"{ext_layers * LAYER_BYTES * 2.3 / GIB:.1f} GiB for the external model, so it is "
              f"skipped there (tflayout-opt runs at full size)")

    work = tempfile.mkdtemp(prefix="tflayout_e2e_", dir=args.workdir)
    py = sys.executable
    me = os.path.abspath(__file__)
    rows = []
    try:
        def generate(kind, path, layers):
            t0 = time.monotonic()
            (generate_embedded if kind == "embedded" else generate_external)(path, layers)
            size = file_size(path)
            print(f"generated {path} ({layers} layers, {size / GIB:.2f} GiB) in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
            return size

        def run(model, name, cmd, out, layers, suffix, size):
            """Measures cmd, checks the weights it wrote to `out`, removes them."""
            wall, rss = measure(cmd, f"{name} ({model})")
            rows.append((model, name, wall, rss, size))
            check_weights(out, layers, suffix)
            remove_model(out)
            return wall, rss

        for folder in ("r1", "t1", "r2", "t2"):
            os.makedirs(os.path.join(work, folder))

        # ---- (i) embedded ----
        emb = os.path.join(work, "embedded.onnx")
        emb_size = generate("embedded", emb, emb_layers)
        r_out = os.path.join(work, "r1", "out.onnx")
        t_out = os.path.join(work, "t1", "out.onnx")
        rw, _ = run("embedded", "recipe (onnx + numpy)", [py, me, "--recipe", emb, r_out], r_out,
                    emb_layers, "", emb_size)
        tw, tr = run("embedded", "tflayout-opt -o", [tool, "-q", emb, "-o", t_out], t_out,
                     emb_layers, "__tf", emb_size)
        emb_ratio = (rw / tw, tr / emb_size)
        # The whole model in memory (what the Python API and stdin/stdout runs do).
        nw, _ = run("embedded", "tflayout-opt -o --no-stream",
                    [tool, "-q", "--no-stream", emb, "-o", t_out], t_out, emb_layers, "__tf",
                    emb_size)
        remove_model(emb)

        # ---- (ii) external ----
        ext = os.path.join(work, "external.onnx")
        ext_size = generate("external", ext, ext_layers)
        r_out = os.path.join(work, "r2", "out.onnx")
        t_out = os.path.join(work, "t2", "out.onnx")
        rw2 = None
        if ext_recipe:
            rw2, _ = run("external", "recipe (onnx + numpy)",
                         [py, me, "--recipe", ext, r_out, "--external"], r_out, ext_layers, "",
                         ext_size)
        tw2, tr2 = run("external", "tflayout-opt -o (streamed)", [tool, "-q", ext, "-o", t_out],
                       t_out, ext_layers, "__tf", ext_size)
        iw, ir = run("external", "tflayout-opt --in-place", [tool, "-q", "--in-place", ext], ext,
                     ext_layers, "__tf", ext_size)
        remove_model(ext)

        # ---- (iii) one large weight: embedded -o, external -o, external --in-place ----
        if args.large_channels > 0:
            c = args.large_channels
            for external in (False, True):
                kind = "1 weight, ext" if external else "1 weight, emb"
                big = os.path.join(work, "large.onnx")
                t0 = time.monotonic()
                generate_large(big, c, external)
                size = file_size(big)
                print(f"generated {big} (one {c}x{c}x4x4 weight, {size / GIB:.2f} GiB) in "
                      f"{time.monotonic() - t0:.1f} s", flush=True)
                t_out = os.path.join(work, "t3", "out.onnx")
                os.makedirs(os.path.dirname(t_out), exist_ok=True)
                wall, rss = measure([tool, "-q", big, "-o", t_out], f"-o ({kind})")
                rows.append((kind, "tflayout-opt -o", wall, rss, size))
                check_large(t_out, c)
                remove_model(t_out)
                if external:
                    wall, rss = measure([tool, "-q", "--in-place", big], f"--in-place ({kind})")
                    rows.append((kind, "tflayout-opt --in-place", wall, rss, size))
                    check_large(big, c)
                remove_model(big)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"tflayout-opt: {tool}   machine: {os.cpu_count()} CPUs")
    print(f"{'model':<14} {'run':<28} {'wall s':>8} {'peak RSS MiB':>13} {'model MiB':>10} "
          f"{'RSS/model':>10}")
    for model, run, wall, rss, size in rows:
        print(f"{model:<14} {run:<28} {wall:>8.2f} {rss / MIB:>13.1f} {size / MIB:>10.0f} "
              f"{rss / size:>10.3f}")
    print()
    speedup, rss_ratio = emb_ratio
    print(f"embedded ({emb_size / GIB:.2f} GiB): speedup recipe/tflayout = {speedup:.1f}x, "
          f"recipe/tflayout --no-stream = {rw / nw:.1f}x "
          f"(target >= 10x: {'PASS' if speedup >= 10 else 'FAIL'}); tflayout peak RSS / model "
          f"file = {rss_ratio:.3f} (target <= 1.25: {'PASS' if rss_ratio <= 1.25 else 'FAIL'})")
    speedups = (f"speedup recipe/tflayout -o = {rw2 / tw2:.1f}x, recipe/--in-place = "
                f"{rw2 / iw:.1f}x" if rw2 else "recipe skipped (memory)")
    print(f"external ({ext_size / GIB:.2f} GiB): {speedups}; tflayout -o peak RSS "
          f"{tr2 / MIB:.1f} MiB; "
          f"--in-place peak RSS {ir / MIB:.1f} MiB (target <= 64 MiB: "
          f"{'PASS' if ir <= 64 * MIB else 'FAIL'})")


if __name__ == "__main__":
    main()
