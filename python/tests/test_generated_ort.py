"""Generated ConvTranspose configurations (seeded): ONNX Runtime on the original vs ONNX Runtime
on the compensate form of the default pipeline (float32 and float16: ORT 1.17.3 has no float64
ConvTranspose)."""
import numpy as np
import onnx
import pytest

import ct_harness as H

SEED = 1234
CONFIGS = H.generate_configs(130, SEED, dtypes=("float32", "float16"), dtype_p=(0.8, 0.2),
                             wide_every=30)


@pytest.fixture(scope="module")
def results(tool, tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    out = {}
    for dt in ("float32", "float16"):
        cs = [c for c in CONFIGS if c.dtype == dt]
        model, feeds, _, _ = H.build_batch_model(cs, SEED)
        src, dst = str(d / f"{dt}.onnx"), str(d / f"{dt}.tf.onnx")
        onnx.save(model, src)
        H.run_tool(src, dst)
        m = onnx.load(dst)
        onnx.checker.check_model(m, full_check=True)
        want = H.ort_run(model, feeds)
        got = H.ort_run(m, feeds)
        for c in cs:
            out[c.idx] = (want[f"y{c.idx}"], got[f"y{c.idx}"])
    return out


def test_enough_configs():
    assert len(CONFIGS) >= 100


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])
def test_ort_original_vs_compensate(cfg, results):
    want, got = results[cfg.idx]
    assert got.shape == want.shape
    scale = max(float(np.abs(want.astype(np.float64)).max()), 1e-30)
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
    assert err <= 1e-6 * scale, f"relative error {err / scale:.3g}"
