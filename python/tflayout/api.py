"""tflayout.run: the library as a step in Python export pipelines.

    import onnx, tflayout
    model = onnx.load("generator.onnx")
    tf_ready = tflayout.run(model)                       # default TF pipeline, compensate form
    tf_ready = tflayout.run("generator.onnx", passes="resolve-conv-transpose-pads,"
                            "materialize-conv-transpose-dilations,conv-transpose-to-tf{form=custom-op}")

The work happens in the C++ library (the same code as tflayout-opt); this module converts
arguments and errors.
"""
import os

DEFAULT = None  # the default pipeline


class Error(RuntimeError):
    """A tflayout failure. ``code`` matches tflayout-opt's exit codes (1 usage, 2 input,
    3 pass/verification, 4 output)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _native():
    from tflayout import _native as native  # built by CMake (TFLAYOUT_BUILD_PYTHON) or pip
    return native


def default_pipeline():
    return _native().DEFAULT_PIPELINE


def list_passes():
    """[(name, summary), ...] of the built-in passes."""
    return list(_native().list_passes())


def target_pipelines():
    """{consumer: pipeline text}: "onnxruntime" (compensate form, the default), "onnx-tf"
    (custom-op form), "onnx2tf" (plain ConvTranspose nodes onnx2tf converts exactly)."""
    return dict(_native().target_pipelines())


def run(model, passes=DEFAULT, target=None):
    """Runs a pass pipeline on ``model`` and returns a new ``onnx.ModelProto``.

    model: an ``onnx.ModelProto``, serialized ``bytes``, or a path to a ``.onnx`` file (external
    data is then resolved in the file's folder and embedded in the result).
    passes: pipeline text, e.g. ``"conv-transpose-to-tf{form=custom-op}"``; None runs the
    default pipeline, "" runs no pass.
    target: instead of ``passes``, the consumer of the result: "onnxruntime", "onnx-tf" or
    "onnx2tf" (see target_pipelines()).
    Raises tflayout.Error with the library's message (naming file, node and tensor).
    """
    import onnx

    if target is not None:
        if passes is not DEFAULT:
            raise TypeError("tflayout.run: give passes or target, not both")
        pipelines = target_pipelines()
        if target not in pipelines:
            raise Error(1, f"unknown target '{target}' (known: {', '.join(pipelines)})")
        passes = pipelines[target]
    base_dir = ""
    if isinstance(model, onnx.ModelProto):
        data = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(path, "rb") as f:
            data = f.read()
        base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise TypeError(f"tflayout.run: model must be an onnx.ModelProto, bytes or a path, "
                        f"not {type(model).__name__}")
    code, payload = _native().run_bytes(data, passes, base_dir)
    if code != 0:
        raise Error(code, payload.decode("utf-8", "replace"))
    result = onnx.ModelProto()
    result.ParseFromString(payload)
    return result
