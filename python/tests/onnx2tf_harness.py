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


def convert(onnx_path: str, folder: str, onnxsim: bool) -> Conversion:
    """onnx2tf as its command line runs it (onnxsim on or off), in this process. onnx2tf
    reports many errors by sys.exit: those become Conversion.error. onnx2tf overwrites its
    input file with onnxsim's output, so it gets a copy."""
    import onnx2tf
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    copy = os.path.join(folder, "input_copy.onnx")
    shutil.copyfile(onnx_path, copy)
    onnx_path = copy
    log = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=folder,
                            not_use_onnxsim=not onnxsim, non_verbose=True, output_signaturedefs=True,
                            copy_onnx_input_output_names_to_tflite=True)
    except BaseException as e:  # noqa: BLE001 - SystemExit included: onnx2tf exits on errors
        tail = [l for l in log.getvalue().splitlines() if l.strip()][-3:]
        error = f"{type(e).__name__}: {e} | {' / '.join(tail)}"[:400]
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
    return {o: to_channels_first(outs[_match(o, outs, reverse=True)].numpy()) for o in output_names}


def run_tflite(path: str, feeds: Dict[str, np.ndarray], output_names) -> Dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=path, num_threads=1)
    runner = interp.get_signature_runner()
    sig = interp.get_signature_list()["serving_default"]
    args = {name: to_channels_last(feeds[_match(name, feeds)]) for name in sig["inputs"]}
    outs = runner(**args)
    return {o: to_channels_first(np.asarray(outs[_match(o, outs, reverse=True)]))
            for o in output_names}


def _match(name: str, table, reverse: bool = False) -> str:
    """onnx2tf keeps ONNX names but may sanitize them (e.g. ':' or '/' -> '_')."""
    if name in table:
        return name
    norm = lambda s: "".join(ch if ch.isalnum() else "_" for ch in s).lower()
    for k in table:
        if norm(k) == norm(name):
            return k
    if len(table) == 1:
        return next(iter(table))
    raise KeyError(f"{name!r} not among {sorted(table)}")


def rel_err(got: Optional[np.ndarray], ref: np.ndarray) -> float:
    if got is None or got.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref.astype(np.float64)))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) / scale
