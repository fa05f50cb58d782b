"""The equivalence matrix: >= 500 generated ConvTranspose configurations (rank 1/2/3, channels 1,
odd, even and 64+, kernels 1-5, strides 1-3, dilations 1-3, asymmetric pads, output_padding, all
auto_pad values and output_shape, group 1/2/depthwise, bias or not, float32/float16/float64),
plus 150 with negative total padding (SAME_* strides above the effective kernel, output_shape
past the full size; ct_harness.generate_negative_configs).

Reference per dtype: float32 -> ONNX Runtime on the original model; float16 -> ONNX Runtime on a
float32 copy (same values, exactly representable); float64 -> tflayout.reference (NumPy, float64
accumulation; ORT has no float64 ConvTranspose), itself checked against ORT in float32 below.

Paths, all on every configuration:
  (a) the annotation + TF-layout kernel of the default pipeline's output through tf.nn directly
      (tflayout.tf_reference)                                           -- asserted
  (b) onnx-tf with tflayout's handler on the custom-op form               -- asserted
  (c) stock onnx-tf on the compensate form                                -- asserted
  (o) stock onnx-tf on the original model (baseline)      -- measured only, not run by default
onnx-tf's prepare traces one tf.function per model, so each path converts one model per batch of
<= 60 configurations; a node whose handler raises is recorded as rejected without failing the
rest (ct_harness.run_onnx_tf_contained), which equals converting it alone.

Tolerance: max|got - ref| <= tol * max|ref|, tol = 1e-4 (float32), 1e-2 (float16),
1e-9 (float64); see ct_matrix.TOL.
TFLAYOUT_EQ_PATHS selects the paths (default "abc"; "abco" adds the baseline). The summary JSON
goes to $TFLAYOUT_EQ_SUMMARY (default build/equivalence_summary.json);
scripts/results/equivalence.py runs this file with every path and writes
docs/results/equivalence.md from the summary.
"""
import json
import os

import numpy as np
import pytest

import ct_harness as H
import ct_matrix as M

SEED = 20241128
COUNT = int(os.environ.get("TFLAYOUT_EQ_COUNT", "520"))
# negative total padding: SAME_* strides above the effective kernel, output_shape past the full size
NEG_COUNT = int(os.environ.get("TFLAYOUT_EQ_NEG_COUNT", "150"))
PATHS = tuple(os.environ.get("TFLAYOUT_EQ_PATHS", "abc"))
CONFIGS = H.generate_configs(COUNT, SEED) + \
    H.generate_negative_configs(NEG_COUNT, SEED + 1, start_idx=COUNT)


@pytest.fixture(scope="module")
def matrix(tool):
    results = M.run_matrix(CONFIGS, SEED, paths=PATHS, log=lambda s: None)
    summary = M.summarize(results, PATHS)
    summary["seed"] = SEED
    summary["configs"] = {r["id"]: {p: r[p] for p in PATHS if p in r} for r in results.values()}
    path = os.environ.get("TFLAYOUT_EQ_SUMMARY",
                          os.path.join(H.REPO, "build", "equivalence_summary.json"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True, default=float)
    return results, summary


def test_matrix_coverage():
    assert len(CONFIGS) >= 500 or COUNT < 500
    seen = lambda f: {f(c) for c in CONFIGS}
    assert seen(lambda c: c.rank) == {1, 2, 3}
    assert seen(lambda c: "OUTPUT_SHAPE" if c.output_shape else c.auto_pad) == {
        "NOTSET", "OUTPUT_SHAPE", "SAME_UPPER", "SAME_LOWER", "VALID"}
    assert seen(lambda c: c.dtype) == {"float32", "float16", "float64"}
    assert {1, 2} <= seen(lambda c: c.group) and any(c.group == c.c_in > 2 for c in CONFIGS)
    assert {1, 2, 3} <= seen(lambda c: max(c.strides))
    assert seen(lambda c: max(c.dilations)) == {1, 2, 3}
    assert set(range(1, 6)) <= seen(lambda c: max(c.kernel))
    assert any(c.c_in >= 64 for c in CONFIGS) and any(c.c_out >= 64 for c in CONFIGS)
    assert any(c.c_in == 1 for c in CONFIGS) and any(c.c_out == 1 for c in CONFIGS)
    assert any(c.pads and c.pads[:c.rank] != c.pads[c.rank:] for c in CONFIGS)
    assert any(any(c.output_padding) for c in CONFIGS) and any(c.bias for c in CONFIGS)
    if NEG_COUNT >= 54:
        neg = [c for c in CONFIGS if c.negative_total()]
        assert len(neg) == NEG_COUNT  # the ordinary generator has none
        for mode in ("SAME_UPPER", "SAME_LOWER", "OUTPUT_SHAPE"):
            sel = [c for c in neg if ("OUTPUT_SHAPE" if c.output_shape else c.auto_pad) == mode]
            assert {c.rank for c in sel} == {1, 2, 3}, mode
            assert {c.dtype for c in sel} == {"float16", "float32", "float64"}, mode
        assert {c.auto_pad for c in neg if c.output_shape} == {"NOTSET", "SAME_UPPER", "SAME_LOWER"}
        assert any(c.group == c.c_in > 1 for c in neg) and any(1 < c.group < c.c_in for c in neg)
        assert any(max(c.dilations) > 1 for c in neg)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])
def test_a_tf_nn_from_annotation(cfg, matrix):
    if "a" not in PATHS:
        pytest.skip("path a not selected")
    r = matrix[0][cfg.idx]["a"]
    assert r["status"] == "pass", r


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])
def test_b_onnx_tf_custom_op(cfg, matrix):
    if "b" not in PATHS:
        pytest.skip("path b not selected")
    r = matrix[0][cfg.idx]["b"]
    assert r["status"] == "pass", r


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])
def test_c_stock_onnx_tf_compensate(cfg, matrix):
    if "c" not in PATHS:
        pytest.skip("path c not selected")
    r = matrix[0][cfg.idx]["c"]
    assert r["status"] == "pass", r


def test_summary_counts(matrix):
    results, summary = matrix
    assert summary["configurations"] == len(CONFIGS)
    for p in PATHS:
        assert sum(summary["paths"][p]["counts"].values()) == len(CONFIGS)


def test_numpy_reference_matches_ort_float32():
    """tflayout.reference (the float64 reference) against ONNX Runtime, in float32."""
    from tflayout.reference import conv_transpose
    cs = H.generate_configs(120, SEED + 1, dtypes=("float32",), dtype_p=(1.0,)) + \
        H.generate_negative_configs(60, SEED + 2, start_idx=120, dtypes=("float32",))
    model, feeds, w, b = H.build_batch_model(cs, SEED + 1)
    out = H.ort_run(model, feeds)
    for c in cs:
        pb, pe, op = c.explicit_pads()
        got = conv_transpose(feeds[f"x{c.idx}"], w[c.idx], b[c.idx], strides=c.strides,
                             dilations=c.dilations, pads_begin=pb, pads_end=pe,
                             output_padding=op, group=c.group)
        ref = out[f"y{c.idx}"]
        assert got.shape == ref.shape, c.id
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), c.id


def test_tf_ops_output_padding_at_least_stride():
    """output_padding >= stride (allowed by ONNX/PyTorch when < dilation): tflayout.tf_ops
    agrees with the NumPy reference. ONNX Runtime 1.17.3 is not used as the reference here: for
    such nodes it returns uninitialized memory (e.g. 1-D k3 s1 d3 output_padding 2), which is why
    the generated matrix keeps output_padding < stride."""
    from tflayout.reference import conv_transpose as ref_ct
    from tflayout.tf_ops import conv_transpose as tf_ct
    rng = np.random.default_rng(5)
    for n, k, s, d, op, pb, pe in [(1, [3], [1], [3], [2], [1], [0]),
                                   (2, [4, 3], [1, 3], [3, 1], [2, 1], [5, 0], [2, 0]),
                                   (3, [2, 2, 2], [1, 2, 1], [2, 1, 3], [1, 1, 2], [0, 1, 0], [1, 0, 2])]:
        x = rng.standard_normal([1, 4] + [3] * n)
        w = rng.standard_normal([4, 3] + k)
        b = rng.standard_normal(3)
        want = ref_ct(x, w, b, strides=s, dilations=d, pads_begin=pb, pads_end=pe,
                      output_padding=op, group=1)
        got = tf_ct(x, np.transpose(w, list(range(2, n + 2)) + [1, 0]), b, strides=s,
                    dilations=d, pads_begin=pb, pads_end=pe, output_padding=op).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
