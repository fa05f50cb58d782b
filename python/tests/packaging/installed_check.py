"""Checks an installed tflayout wheel from inside the venv it is installed in (run by
scripts/test_dist.sh; not a pytest module, so the source-tree suite never imports it).

    python installed_check.py --models DIR --ref DIR [--tensorflow] [--onnx-tf] [--keras]

--ref holds the source build's outputs: NAME.tool.onnx (tflayout-opt NAME.onnx -o ...) and
NAME.api.onnx (tflayout.run(NAME.onnx) serialized). Every check prints one line; the first
failure raises.
"""
import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

import numpy as np

ALLOWED_SYSTEM_LIBS = ("libc.so", "libm.so", "libgcc_s.so", "libstdc++.so", "libpthread.so",
                       "libdl.so", "librt.so", "libz.so", "ld-linux", "linux-vdso")
EXPORTED = ("tflayout_", "_ZN8tflayout7OptMainEiPPc")


def say(message):
    print(f"  ok  {message}", flush=True)


def fail(message):
    raise SystemExit(f"FAIL {message}")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def package_dirs():
    import tflayout
    package = os.path.dirname(os.path.abspath(tflayout.__file__))
    site = sysconfig.get_paths()["purelib"]
    if os.path.dirname(package) != os.path.realpath(site) and os.path.dirname(package) != site:
        fail(f"tflayout imported from {package}, not from the venv's {site}")
    return package, [package, os.path.join(site, "tflayout.libs")]


def check_links(dirs):
    """Every ELF file of the package resolves its libraries inside the package or to the
    manylinux system set; the library exports only the C API and the tool's entry."""
    elves = []
    for top in dirs:
        for root, _, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        elves.append(path)
    if not elves:
        fail("no ELF file in the installed package")
    inside = tuple(os.path.realpath(d) + os.sep for d in dirs)
    for path in elves:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            line = line.strip()
            if line == "statically linked":  # ldd's words for a library without DT_NEEDED
                continue
            if "not found" in line:
                fail(f"{path}: {line}")
            target = line.split("=>")[1].split("(")[0].strip() if "=>" in line else ""
            name = line.split()[0]
            if target and os.path.realpath(target).startswith(inside):
                continue
            if not any(os.path.basename(name).startswith(a) for a in ALLOWED_SYSTEM_LIBS):
                fail(f"{path} links {line} outside the package and the manylinux set")
    say(f"{len(elves)} ELF files link only inside the package or the manylinux system set")
    library = os.path.join(dirs[0], "lib", "libtflayout.so")
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True,
                             text=True, check=True).stdout.split("\n")
    names = [line.split()[-1] for line in symbols if line.strip()]
    foreign = [n for n in names if not n.startswith(EXPORTED)]
    if foreign:
        fail(f"libtflayout.so exports more than the C API: {foreign[:10]}")
    say(f"libtflayout.so exports {len(names)} symbols, all C API (tflayout_*) or OptMain")


def check_cli(models, ref, work):
    tool = shutil.which("tflayout-opt")
    if tool is None or not tool.startswith(sys.prefix):
        fail(f"tflayout-opt on PATH is {tool}, not the venv's")
    for name in models:
        out = os.path.join(work, name + ".cli.onnx")
        subprocess.run([tool, os.path.join(MODELS, name + ".onnx"), "-o", out], check=True,
                       capture_output=True)
        if read(out) != read(os.path.join(ref, name + ".tool.onnx")):
            fail(f"tflayout-opt {name}.onnx differs from the source build's output")
    say(f"tflayout-opt: {len(models)} models byte-identical to the source build")
    out = os.path.join(work, "module.onnx")
    subprocess.run([sys.executable, "-m", "tflayout", os.path.join(MODELS, models[0] + ".onnx"),
                    "-o", out], check=True, capture_output=True)
    if read(out) != read(os.path.join(ref, models[0] + ".tool.onnx")):
        fail("python -m tflayout output differs from the source build's")
    say("python -m tflayout gives the same bytes")
    missing = os.path.join(work, "no_such_model.onnx")
    run = subprocess.run([tool, missing, "-o", os.path.join(work, "x.onnx")],
                         capture_output=True, text=True)
    if run.returncode != 2 or "no_such_model.onnx" not in run.stderr:
        fail(f"a missing input: exit {run.returncode}, stderr {run.stderr!r}")
    say("a missing input exits 2 naming the file")


def check_api(models, ref):
    import onnx
    import onnxruntime as ort
    import tflayout

    for name in models:
        got = tflayout.run(os.path.join(MODELS, name + ".onnx")).SerializeToString()
        if got != read(os.path.join(ref, name + ".api.onnx")):
            fail(f"tflayout.run({name}.onnx) differs from the source build's")
    say(f"tflayout.run: {len(models)} models byte-identical to the source build")
    if "conv-transpose-to-tf" not in [n for n, _ in tflayout.list_passes()]:
        fail("list_passes() lacks conv-transpose-to-tf")
    if tflayout.target_pipelines()["onnxruntime"] != tflayout.default_pipeline():
        fail("target_pipelines()['onnxruntime'] is not the default pipeline")
    try:
        tflayout.run(b"garbage")
        fail("tflayout.run(b'garbage') did not raise")
    except tflayout.Error as e:
        if e.code != 2:
            fail(f"tflayout.run(b'garbage') raised code {e.code}")
    say("list_passes, target_pipelines, default_pipeline and errors work")
    original = onnx.load(os.path.join(MODELS, "dcgan_generator.onnx"))
    rewritten = tflayout.run(original)
    onnx.checker.check_model(rewritten)
    feeds = {}
    for value in original.graph.input:
        dims = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
        feeds[value.name] = np.random.default_rng(0).standard_normal(dims).astype(np.float32)

    def infer(model):
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        return session.run(None, feeds)[0]

    want, got = infer(original), infer(rewritten)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
    say(f"onnxruntime {ort.__version__} on tflayout.run's dcgan_generator equals the original "
        f"(onnx {onnx.__version__})")


IMPORT_ORDER_SCRIPT = textwrap.dedent("""
    import importlib, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in sys.argv[2:]:
        module = importlib.import_module(name)
        if name == "tflayout":
            module.list_passes()   # loads libtflayout.so (and its bundled libraries) now
    import numpy as np, onnx, onnxruntime as ort, tflayout
    model = onnx.load(sys.argv[1])
    out = tflayout.run(model)
    onnx.checker.check_model(out)
    x = {model.graph.input[0].name: np.ones([d.dim_value or 1 for d in
         model.graph.input[0].type.tensor_type.shape.dim], np.float32)}
    a = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)[0]
    b = ort.InferenceSession(out.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)[0]
    assert np.allclose(a, b, rtol=1e-5, atol=1e-5 * float(abs(a).max())), "ort results differ"
    if "tensorflow" in sys.argv[2:]:
        import tensorflow as tf
        k = tf.nn.conv2d_transpose(tf.ones([1, 2, 2, 1]), tf.ones([2, 2, 1, 1]), [1, 4, 4, 1], 2)
        assert float(tf.reduce_sum(k)) == 16.0
    print("ok")
""")


def check_import_orders(with_tensorflow):
    """tflayout loading its library before, between and after onnx, onnxruntime (and
    tensorflow), these in forward and reverse order, each in a fresh process that then uses
    all of them (with two other modules, that is every permutation)."""
    others = ["onnx", "onnxruntime"] + (["tensorflow"] if with_tensorflow else [])
    modules = others + ["tflayout"]
    orders = [tuple(base[:i] + ["tflayout"] + base[i:])
              for base in (others, others[::-1]) for i in range(len(others) + 1)]
    for order in orders:
        run = subprocess.run([sys.executable, "-c", IMPORT_ORDER_SCRIPT,
                              os.path.join(MODELS, "dcgan_generator.onnx"), *order],
                             capture_output=True, text=True)
        if run.returncode != 0 or not run.stdout.strip().endswith("ok"):
            fail(f"import order {' '.join(order)}: exit {run.returncode}\n{run.stderr[-3000:]}")
    versions = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m, sys; print(', '.join("
         "f'{n} {m.version(n)}' for n in sys.argv[1:]))",
         *[{"tensorflow": TF_DIST}.get(m, m) for m in modules]],
        capture_output=True, text=True, check=True).stdout.strip()
    say(f"{len(orders)} import orders of {', '.join(modules)} work in one process ({versions})")


def check_onnx_tf():
    import onnx
    import onnxruntime as ort
    import tflayout
    import tflayout.onnx_tf_handler  # noqa: F401  registers tflayout.ConvTransposeTF
    from onnx_tf.backend import prepare

    original = onnx.load(os.path.join(MODELS, "dcgan_generator.onnx"))
    custom = tflayout.run(original, target="onnx-tf")
    if not any(n.domain == "tflayout" for n in custom.graph.node):
        fail("the onnx-tf target left no tflayout.ConvTransposeTF node")
    value = original.graph.input[0]
    dims = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    want = ort.InferenceSession(original.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {value.name: x})[0]
    got = np.asarray(prepare(custom).run({value.name: x})[0])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    say("onnx-tf with tflayout.onnx_tf_handler reproduces ONNX Runtime on dcgan_generator")


def check_keras():
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tflayout
    from onnx import helper, numpy_helper
    from tflayout.keras import conv_transpose_layers

    rng = np.random.default_rng(11)
    w = rng.standard_normal([3, 4, 3, 4]).astype(np.float32)
    b = rng.standard_normal([4]).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], name="ct",
                            kernel_shape=[3, 4], strides=[2, 3], output_padding=[1, 2],
                            pads=[0, 2, 2, 1])
    graph = helper.make_graph(
        [node], "k", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    x = rng.standard_normal([1, 3, 4, 3]).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    (spec,) = conv_transpose_layers(tflayout.run(model))
    if not spec.exact:
        fail(f"Keras helper: {spec.reason}")
    y = tf.constant(np.transpose(x, (0, 2, 3, 1)))
    for layer in spec.build_layers():
        y = layer(y)
    got = np.transpose(y.numpy(), (0, 3, 1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
    say("tflayout.keras layers on tflayout.run's output reproduce ONNX Runtime")


MODELS = ""
TF_DIST = "tensorflow"


def main():
    global MODELS, TF_DIST
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--tensorflow", help="distribution name of the installed TensorFlow")
    parser.add_argument("--onnx-tf", action="store_true")
    parser.add_argument("--keras", action="store_true")
    args = parser.parse_args()
    MODELS = os.path.abspath(args.models)
    if args.tensorflow:
        TF_DIST = args.tensorflow
    models = sorted(f[:-5] for f in os.listdir(MODELS) if f.endswith(".onnx"))
    models.remove("dcgan_generator")
    models.insert(0, "dcgan_generator")
    print(f"python {sys.version.split()[0]} in {sys.prefix}", flush=True)
    package, dirs = package_dirs()
    check_links(dirs)
    with tempfile.TemporaryDirectory() as work:
        check_cli(models, os.path.abspath(args.ref), work)
    check_api(models, os.path.abspath(args.ref))
    check_import_orders(bool(args.tensorflow))
    if args.onnx_tf:
        check_onnx_tf()
    if args.keras:
        check_keras()


if __name__ == "__main__":
    main()
