"""Every command block of README.md runs, on every bundled model, so the guide cannot rot.

Blocks without a marker run in README order in a scratch folder holding model.onnx and big.onnx
(copies of the bundled model); readme_blocks.py describes the markers. The onnx2tf blocks run in
test_onnx2tf_readme.py (they need the onnx2tf venv). The set of skipped blocks is kept small
and each names its reason.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

import readme_blocks as R

BLOCKS = R.blocks()
MODELS = R.bundled_models()


def test_readme_has_the_blocks_the_guide_promises():
    text = open(R.README).read()
    for target in ("onnxruntime", "onnx-tf", "onnx2tf"):
        assert f"tflayout-opt model.onnx -o out.onnx --target={target}" in text, target
    assert "pip install" in text
    assert len(text.splitlines()) <= 250
    runnable = [b for b in BLOCKS if b.marker != "skip"]
    assert len(runnable) >= 8, [b.name for b in runnable]


def test_skipped_blocks_are_few_and_say_why():
    skipped = [b for b in BLOCKS if b.marker == "skip"]
    assert len(skipped) <= 3, [b.name for b in skipped]
    for b in skipped:
        assert b.reason, f"{b.name}: a skipped block must give its reason"


@pytest.fixture(scope="module")
def install_prefix():
    """The build installed into a temporary prefix, for blocks that compile against it."""
    build = os.path.dirname(os.path.abspath(R.H.tool_path()))
    prefix = tempfile.mkdtemp(prefix="tflayout-readme-prefix-")
    subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True,
                   capture_output=True)
    yield prefix
    shutil.rmtree(prefix, ignore_errors=True)


def _installed_env(prefix):
    libdirs = [os.path.join(prefix, d) for d in ("lib", "lib64") if os.path.isdir(os.path.join(prefix, d))]
    pc = [os.path.join(d, "pkgconfig") for d in libdirs]
    return R.environment(
        [os.path.join(prefix, "bin")],
        PKG_CONFIG_PATH=os.pathsep.join(pc + [os.environ.get("PKG_CONFIG_PATH", "")]),
        LD_LIBRARY_PATH=os.pathsep.join(libdirs + [os.environ.get("LD_LIBRARY_PATH", "")]))


@pytest.mark.parametrize("model", MODELS)
def test_readme_blocks_on_bundled_model(model, tool, install_prefix, tmp_path):
    for name in ("model.onnx", "big.onnx"):  # the README's examples name both
        shutil.copy(os.path.join(R.H.REPO, "models", model + ".onnx"), tmp_path / name)
    env = R.environment()
    ran = 0
    for block in BLOCKS:
        if block.marker in ("skip", "repo-root", "onnx2tf"):
            continue
        R.run(block, str(tmp_path), _installed_env(install_prefix) if block.marker == "installed" else env)
        ran += 1
    assert ran >= 6
    assert (tmp_path / "out.onnx").is_file()
    with open(os.path.join(R.H.REPO, "models", model + ".onnx"), "rb") as f:
        assert (tmp_path / "model.onnx").read_bytes() == f.read(), "model.onnx was modified"
    assert (tmp_path / "big.onnx").read_bytes() != (tmp_path / "model.onnx").read_bytes(), \
        "--in-place left big.onnx as it was"


def test_readme_blocks_from_the_repository_root(tool):
    blocks = [b for b in BLOCKS if b.marker == "repo-root"]
    assert blocks, "the README's first command (the demo) runs from the repository root"
    build = os.path.dirname(os.path.abspath(R.H.tool_path()))
    for block in blocks:
        R.run(block, R.H.REPO, R.environment(TFLAYOUT_BUILD_DIR=build))
