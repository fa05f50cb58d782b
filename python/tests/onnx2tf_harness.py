"""Runs the real onnx2tf (in .venv-onnx2tf) on ONNX models and compares its SavedModel and
float32 .tflite with ONNX Runtime on the original model.

onnx2tf writes channels-last models: an input of shape (N, C, *S) is fed as (N, *S, C) and an
output comes back as (N, *S, C). ``run_onnx2tf`` moves the channel axis on both sides, so
results compare element by element with ONNX Runtime's.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
from typing import Dict, Optional

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A model onnx2tf converted wrongly can hold a convolution oneDNN has no kernel for: oneDNN then
# aborts the whole process ("could not create a primitive descriptor"; seen running the default
# output's conversions without onnxsim, tools/onnx2tf_encoding_probe.py), where TF's own kernels
# raised errors the harness records as refusals. Not a cure: other misconverted models still
# crash TF in both settings (SIGILL, TFLAYOUT_ONNX2TF_BASELINES' default/no-onnxsim batches).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def onnx2tf_versions() -> str:
    import onnx
    import onnx2tf
    import onnxsim
    import tensorflow as tf
    return (f"onnx2tf {onnx2tf.__version__}, tensorflow {tf.__version__}, onnx {onnx.__version__}, "
            f"onnxsim {onnxsim.__version__}")


def to_channels_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if x.ndim >= 3 else x


def to_channels_first(y: np.ndarray) -> np.ndarray:
    return np.moveaxis(y, -1, 1) if y.ndim >= 3 else y


class Conversion:
    """onnx2tf's output for one model: a SavedModel folder and a float32 .tflite, or the error."""

    def __init__(self, folder: str, error: Optional[str]):
        self.folder = folder
        self.error = error

    @property
    def saved_model(self) -> str:
        return self.folder

    @property
    def tflite(self) -> str:
        names = [f for f in os.listdir(self.folder) if f.endswith("_float32.tflite")]
        if not names:
            raise RuntimeError(f"no float32 .tflite in {self.folder}")
        return os.path.join(self.folder, names[0])


def _ensure_onnxsim_on_path():
    """onnx2tf runs onnxsim as a command found on PATH and, when it is missing, only warns and
    converts the unsimplified model. The tests run the venv's python without activating the
    venv, so its bin folder is put first on PATH; a missing onnxsim is an error here."""
    import sys
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    if shutil.which("onnxsim") is None:
        raise RuntimeError("onnxsim is not on PATH: onnx2tf would silently skip it")


_SAMPLE_IMAGES = "calibration_image_sample_data_20x128x128x3_float32.npy"


def convert(onnx_path: str, folder: str, onnxsim: bool,
            overwrite_input_shape: Optional[list] = None, **options) -> Conversion:
    """onnx2tf as its command line runs it (onnxsim on or off), in this process. onnx2tf
    reports many errors by sys.exit: those become Conversion.error. onnx2tf overwrites its
    input file with onnxsim's output, so it gets a copy. ``overwrite_input_shape`` is onnx2tf's
    -ois (["name:d0,d1,..."]), how its users fix the dynamic dimensions of an input; other
    ``options`` go to onnx2tf.convert as they are (e.g. keep_nwc_or_nhwc_or_ndhwc_input_names,
    its -kt, for channels-last inputs)."""
    import onnx2tf
    if onnxsim:
        _ensure_onnxsim_on_path()
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    copy = os.path.join(folder, "input_copy.onnx")
    shutil.copyfile(onnx_path, copy)
    onnx_path = copy
    log = io.StringIO()
    error = None
    cwd = os.getcwd()
    try:
        # When every input looks like an RGB image, onnx2tf loads sample images for its own
        # checks from the working folder, or else downloads them (no network here): give it a
        # local stand-in of the same shape.
        os.chdir(folder)
        np.save(_SAMPLE_IMAGES, np.random.default_rng(0).random((20, 128, 128, 3), np.float32))
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=folder,
                            not_use_onnxsim=not onnxsim, non_verbose=True, output_signaturedefs=True,
                            copy_onnx_input_output_names_to_tflite=True,
                            overwrite_input_shape=overwrite_input_shape, **options)
    except BaseException as e:  # noqa: BLE001 - SystemExit included: onnx2tf exits on errors
        tail = [l for l in log.getvalue().splitlines() if l.strip()][-3:]
        error = f"{type(e).__name__}: {e} | {' / '.join(tail)}"[:400]
    finally:
        os.chdir(cwd)
    if error is None and onnxsim and "Failed to optimize the onnx file" in log.getvalue():
        error = "onnxsim failed inside onnx2tf (it would go on with the unsimplified model)"
    if error is None and not os.path.isfile(os.path.join(folder, "saved_model.pb")):
        error = "onnx2tf wrote no saved_model.pb"
    return Conversion(folder, error)


def run_saved_model(folder: str, feeds: Dict[str, np.ndarray], output_names) -> Dict[str, np.ndarray]:
    import tensorflow as tf
    loaded = tf.saved_model.load(folder)
    fn = loaded.signatures["serving_default"]
    arg_names = list(fn.structured_input_signature[1].keys())
    args = {}
    for name in arg_names:
        key = _match(name, feeds)
        args[name] = tf.constant(to_channels_last(feeds[key]))
    outs = fn(**args)
    return {o: to_channels_first(outs[_match(o, outs, index=k)].numpy())
            for k, o in enumerate(output_names)}


def run_tflite(path: str, feeds: Dict[str, np.ndarray], output_names) -> Dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=path, num_threads=1)
    runner = interp.get_signature_runner()
    sig = interp.get_signature_list()["serving_default"]
    args = {name: to_channels_last(feeds[_match(name, feeds)]) for name in sig["inputs"]}
    outs = runner(**args)
    return {o: to_channels_first(np.asarray(outs[_match(o, outs, index=k)]))
            for k, o in enumerate(output_names)}


def _match(name: str, table, index: Optional[int] = None) -> str:
    """onnx2tf keeps ONNX names but may sanitize them (e.g. ':' or '/' -> '_'); SavedModel
    signatures name outputs output_0, output_1, ... in the ONNX graph's output order."""
    if name in table:
        return name
    norm = lambda s: "".join(ch if ch.isalnum() else "_" for ch in s).lower()
    for k in table:
        if norm(k) == norm(name):
            return k
    if index is not None and f"output_{index}" in table:
        return f"output_{index}"
    if len(table) == 1:
        return next(iter(table))
    raise KeyError(f"{name!r} not among {sorted(table)}")


def rel_err(got: Optional[np.ndarray], ref: np.ndarray) -> float:
    if got is None or got.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref.astype(np.float64)))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) / scale


# ---- batches of generated configurations -------------------------------------------------------

TOL_F32 = 1e-4  # as python/tests/ct_matrix.py: max |got - ref| <= TOL * max |ref|


def _subset_model(configs, seed):
    import ct_harness as H
    return H.build_batch_model(configs, seed)


def _prepare(src: str, dst: str, form: str):
    """The model onnx2tf gets: 'target' = tflayout-opt --target=onnx2tf, 'default' = the
    default (compensate) output, 'original' = the model as generated."""
    import ct_harness as H
    if form == "original":
        shutil.copyfile(src, dst)
    elif form == "default":
        H.run_tool(src, dst)
    else:
        H.run_tool(src, dst, extra=[f"--target={form}"] if form != "target" else ["--target=onnx2tf"],
                   passes=None)


def classify(got: Optional[np.ndarray], ref: np.ndarray) -> dict:
    e = rel_err(got, ref)
    return {"status": "pass" if e <= TOL_F32 else "wrong", "rel_err": e}


def run_configs(configs, seed: int, workdir: str, form: str, onnxsim: bool, log=print) -> Dict[int, dict]:
    """{config idx: {"saved_model": {...}, "tflite": {...}}} for one batch. A batch whose
    conversion fails is split in halves until the failing configurations stand alone, so a
    rejection is recorded per configuration, as if each had been converted on its own."""
    import onnx
    import ct_harness as H
    model, feeds, _, _ = _subset_model(configs, seed)
    tag = f"b{configs[0].idx}_{len(configs)}_{form}_{int(onnxsim)}"
    src = os.path.join(workdir, tag + ".onnx")
    onnx.save(model, src)
    ref = H.ort_run(model, feeds)
    prepared = os.path.join(workdir, tag + ".in.onnx")
    try:
        _prepare(src, prepared, form)
    except RuntimeError as e:
        return {c.idx: {k: {"status": "reject", "error": f"tflayout-opt: {e}"[:300]}
                        for k in ("saved_model", "tflite")} for c in configs}
    conversion = convert(prepared, os.path.join(workdir, tag), onnxsim)
    outputs = [f"y{c.idx}" for c in configs]
    if conversion.error is not None:
        if len(configs) > 1:
            half = len(configs) // 2
            log(f"  {tag}: conversion failed, splitting ({conversion.error[:120]})")
            return {**run_configs(configs[:half], seed, workdir, form, onnxsim, log),
                    **run_configs(configs[half:], seed, workdir, form, onnxsim, log)}
        return {configs[0].idx: {k: {"status": "reject", "error": conversion.error}
                                 for k in ("saved_model", "tflite")}}
    results = {c.idx: {} for c in configs}
    for kind, runner, path in (("saved_model", run_saved_model, conversion.saved_model),
                               ("tflite", run_tflite, None)):
        try:
            got = runner(path if path else conversion.tflite, feeds, outputs)
        except Exception as e:  # noqa: BLE001 - a runtime rejection is a result
            if len(configs) > 1:
                # which configuration does the runtime refuse? (e.g. TFLite kernels)
                half = len(configs) // 2
                sub = {**run_configs(configs[:half], seed, workdir, form, onnxsim, log),
                       **run_configs(configs[half:], seed, workdir, form, onnxsim, log)}
                for c in configs:
                    results[c.idx][kind] = sub[c.idx][kind]
                continue
            for c in configs:
                results[c.idx][kind] = {"status": "reject", "error": f"{type(e).__name__}: {e}"[:300]}
            continue
        for c in configs:
            results[c.idx][kind] = classify(got.get(f"y{c.idx}"), ref[f"y{c.idx}"])
    shutil.rmtree(os.path.join(workdir, tag), ignore_errors=True)
    return results
