"""tflayout.run: the library as a step in Python export pipelines.

    import onnx, tflayout
    model = onnx.load("generator.onnx")
    tf_ready = tflayout.run(model)                       # default TF pipeline, compensate form
    tf_ready = tflayout.run("generator.onnx", passes="resolve-conv-transpose-pads,"
                            "materialize-conv-transpose-dilations,conv-transpose-to-tf{form=custom-op}")

The work happens in the C++ library (the same code as tflayout-opt), called through its C API
with ctypes; this module converts arguments and errors. The package holds no compiled Python
extension, so one wheel serves every CPython version.
"""
import os

DEFAULT = None  # the default pipeline


class Error(RuntimeError):
    """A tflayout failure. ``code`` matches tflayout-opt's exit codes (1 usage, 2 input,
    3 pass/verification, 4 output)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


_LIBRARY_NAME = "libtflayout.so"


class _Library:
    """libtflayout.so through its C API (include/tflayout/c_api.h), loaded once on first use."""

    _loaded = None

    @classmethod
    def get(cls):
        if cls._loaded is None:
            cls._loaded = cls._load(cls._path())
        return cls._loaded

    @staticmethod
    def _path():
        # A source-tree checkout uses the CMake build's library (scripts/dev.sh sets this); an
        # installed wheel carries it in tflayout/lib/.
        override = os.environ.get("TFLAYOUT_LIBRARY")
        if override:
            return override
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", _LIBRARY_NAME)

    @staticmethod
    def _load(path):
        import ctypes

        if not os.path.exists(path):
            raise ImportError(f"tflayout: the C library {path} is missing (install the tflayout "
                              "wheel, or build with CMake and set TFLAYOUT_LIBRARY)")
        # RTLD_LOCAL: the library's symbols (and its bundled ONNX, Protobuf and abseil) stay out
        # of the process's global scope, so other extensions carrying their own copies of these
        # libraries never bind to ours. RTLD_DEEPBIND: the other direction; the library and its
        # bundled dependencies resolve their symbols among themselves first, not against an
        # abseil or Protobuf another package (TensorFlow) put into the global scope earlier.
        lib = ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_DEEPBIND)
        size_t, char_p, void_p = ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
        signatures = {
            "tflayout_api_version": (ctypes.c_int, []),
            "tflayout_version": (char_p, []),
            "tflayout_default_pipeline": (char_p, []),
            "tflayout_pass_name": (char_p, [size_t]),
            "tflayout_pass_summary": (char_p, [size_t]),
            "tflayout_target_name": (char_p, [size_t]),
            "tflayout_target_pipeline": (char_p, [char_p]),
            "tflayout_run_bytes": (ctypes.c_int, [char_p, size_t, char_p, char_p,
                                                  ctypes.POINTER(void_p), ctypes.POINTER(size_t),
                                                  ctypes.POINTER(void_p)]),
            "tflayout_free": (None, [void_p]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
        if lib.tflayout_api_version() != _C_API_VERSION:
            raise ImportError(f"tflayout: {path} has C API version {lib.tflayout_api_version()}, "
                              f"this package needs {_C_API_VERSION}")
        return lib


_C_API_VERSION = 1


def _lib():
    return _Library.get()


def _enumerate(function):
    """[function(0), function(1), ...] up to the first NULL, decoded."""
    values = []
    while True:
        value = function(len(values))
        if value is None:
            return values
        values.append(value.decode("utf-8"))


def library_version():
    """The C library's version string, e.g. "0.1.0"."""
    return _lib().tflayout_version().decode("utf-8")


def default_pipeline():
    return _lib().tflayout_default_pipeline().decode("utf-8")


def list_passes():
    """[(name, summary), ...] of the built-in passes."""
    lib = _lib()
    return list(zip(_enumerate(lib.tflayout_pass_name), _enumerate(lib.tflayout_pass_summary)))


def target_pipelines():
    """{consumer: pipeline text}: "onnxruntime" (compensate form, the default), "onnx-tf"
    (custom-op form), "onnx2tf" (plain ConvTranspose nodes onnx2tf converts exactly)."""
    lib = _lib()
    return {name: lib.tflayout_target_pipeline(name.encode("utf-8")).decode("utf-8")
            for name in _enumerate(lib.tflayout_target_name)}


def _run_bytes(data, passes, base_dir):
    """Calls tflayout_run_bytes (ctypes releases the GIL meanwhile); returns the output bytes."""
    import ctypes

    lib = _lib()
    out, size, error = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
    code = lib.tflayout_run_bytes(data, len(data),
                                  None if passes is None else passes.encode("utf-8"),
                                  base_dir.encode("utf-8") if base_dir else None,
                                  ctypes.byref(out), ctypes.byref(size), ctypes.byref(error))
    if code != 0:
        message = ctypes.string_at(error.value).decode("utf-8", "replace") if error.value \
            else "unknown error"
        lib.tflayout_free(error)
        raise Error(code, message)
    try:
        return ctypes.string_at(out.value, size.value) if size.value else b""
    finally:
        lib.tflayout_free(out)


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
    payload = _run_bytes(data, passes, base_dir)
    result = onnx.ModelProto()
    result.ParseFromString(payload)
    return result
