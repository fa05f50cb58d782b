"""The README's onnx2tf blocks (marker `onnx2tf`), on every bundled model, in the onnx2tf venv:
the blocks before them that set up the folder are the same as in test_readme.py, so here the
model is copied and the onnx2tf blocks run alone."""
import os
import shutil

import pytest

pytest.importorskip("onnx2tf")
import readme_blocks as R  # noqa: E402

BLOCKS = [b for b in R.blocks() if b.marker == "onnx2tf"]


def test_readme_has_an_onnx2tf_block():
    assert BLOCKS


@pytest.mark.parametrize("model", R.bundled_models())
def test_readme_onnx2tf_blocks_on_bundled_model(model, tool, tmp_path):
    shutil.copy(os.path.join(R.H.REPO, "models", model + ".onnx"), tmp_path / "model.onnx")
    for block in BLOCKS:
        R.run(block, str(tmp_path), R.environment())
    assert (tmp_path / "saved_model").is_dir()
