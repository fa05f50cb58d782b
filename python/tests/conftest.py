"""pytest setup for tflayout's Python tests.

Run from the repository root:  .venv/bin/python -m pytest python/tests -q
The tool is $TFLAYOUT_OPT (default build/tflayout-opt, relative to the repository root).
"""
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))   # python/ -> import tflayout
sys.path.insert(0, HERE)                                          # ct_harness, ct_matrix

import pytest  # noqa: E402

import ct_harness as H  # noqa: E402

warnings.filterwarnings("ignore", message=".*TensorFlow Addons.*")
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="session")
def tool():
    path = H.tool_path()
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(f"tflayout-opt not found at {path}: build it (cmake --build build --target "
                    "tflayout-opt) or set TFLAYOUT_OPT")
    return path


@pytest.fixture(scope="session")
def models_dir():
    return os.path.join(H.REPO, "models")
