"""The pad-resolution rule of include/tflayout/conv_transpose.h (the ONNX spec's) against the installed ONNX
Runtime: ORT on the original (auto_pad SAME_UPPER / SAME_LOWER, or output_shape with NOTSET) vs
ORT on the output of `--passes=resolve-conv-transpose-pads` (explicit pads), across odd and even
total paddings, strides 1-3, 1-D/2-D/3-D. Also checks the written pads against the rule."""
import itertools

import numpy as np
import onnx
import pytest

import ct_harness as H
from tflayout.reference import resolve_pads

SEED = 77


def _grid():
    cfgs, idx = [], 0
    rng = np.random.default_rng(SEED)
    for mode in ("SAME_UPPER", "SAME_LOWER", "OUTPUT_SHAPE"):
        for rank in (1, 2, 3):
            for s in (1, 2, 3):
                for k in (1, 2, 3, 4, 5):
                    for op in sorted({0, s - 1}):
                        kernel = [k] + [int(rng.integers(1, 5)) for _ in range(rank - 1)]
                        strides = [s] + [int(rng.integers(1, 4)) for _ in range(rank - 1)]
                        dil = [1] * rank if k % 2 else [1 + (k % 3)] + [1] * (rank - 1)
                        output_padding = [op] + [int(rng.integers(0, st)) for st in strides[1:]]
                        in_sp = [3 + (k + s) % 3] + [int(rng.integers(1, 5)) for _ in range(rank - 1)]
                        c = H.Config(idx=idx, rank=rank, batch=1, c_in=2, c_out=3, group=1,
                                     kernel=kernel, strides=strides, dilations=dil,
                                     in_spatial=in_sp, output_padding=output_padding,
                                     bias=bool(idx % 2))
                        if mode == "OUTPUT_SHAPE":
                            # every total from 0 up (odd and even) on the first axis
                            shape = []
                            for i in range(rank):
                                top = c.full(i) + c.output_padding[i]
                                total = (idx % (min(c.k_eff(i) + op, top))) if i == 0 else \
                                    int(rng.integers(0, min(c.k_eff(i) - 1, top - 1) + 1))
                                shape.append(top - total)
                            c.output_shape = shape
                        else:
                            c.auto_pad = mode
                            if any(c.output_padding[i] + c.k_eff(i) - c.strides[i] < 0
                                   for i in range(rank)):
                                continue  # negative total: not a valid SAME configuration
                        cfgs.append(c)
                        idx += 1
    return cfgs


CONFIGS = _grid()


def _total(c, i):
    out = c.output_shape[i] if c.output_shape else c.in_spatial[i] * c.strides[i]
    return c.full(i) + c.output_padding[i] - out


@pytest.fixture(scope="module")
def resolved(tool, tmp_path_factory):
    d = tmp_path_factory.mktemp("pads")
    model, feeds, _, _ = H.build_batch_model(CONFIGS, SEED)
    src, dst = str(d / "in.onnx"), str(d / "out.onnx")
    onnx.save(model, src)
    H.run_tool(src, dst, "resolve-conv-transpose-pads")
    out_model = onnx.load(dst)
    return H.ort_run(model, feeds), H.ort_run(out_model, feeds), \
        {n.name: n for n in out_model.graph.node}


def test_grid_covers_odd_and_even_totals():
    for mode in ("SAME_UPPER", "SAME_LOWER", "OUTPUT_SHAPE"):
        sel = [c for c in CONFIGS if (c.auto_pad if not c.output_shape else "OUTPUT_SHAPE") == mode]
        parities = {_total(c, 0) % 2 for c in sel}
        assert parities == {0, 1}, mode
        assert {c.rank for c in sel} == {1, 2, 3} and {c.strides[0] for c in sel} == {1, 2, 3}


def _id(c):
    mode = "output_shape" if c.output_shape else c.auto_pad.lower()
    return f"{mode}-total{_total(c, 0)}-" + c.id.split("-", 1)[1]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_resolved_pads_match_ort(cfg, resolved):
    want, got, nodes = resolved
    node = nodes[f"ct{cfg.idx}"]
    attrs = {a.name: a for a in node.attribute}
    assert "auto_pad" not in attrs or attrs["auto_pad"].s in (b"NOTSET", b"")
    assert "output_shape" not in attrs
    pb, pe = resolve_pads(cfg.in_spatial, cfg.kernel, cfg.strides, cfg.dilations,
                          cfg.output_padding, cfg.auto_pad, cfg.pads, cfg.output_shape)
    assert list(attrs["pads"].ints) == pb + pe, "pads differ from the spec rule"
    y0, y1 = want[f"y{cfg.idx}"], got[f"y{cfg.idx}"]
    assert y1.shape == y0.shape
    assert np.abs(y1 - y0).max() <= 1e-6 * max(np.abs(y0).max(), 1e-30), \
        f"ORT disagrees with explicit pads {pb + pe}"
