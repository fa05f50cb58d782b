"""A NumPy ConvTranspose (ONNX semantics) and the ONNX pad-resolution rule.

Used as the float64 reference (ONNX Runtime has no float64 ConvTranspose kernel on CPU); the
test-suite validates it against ONNX Runtime in float32.
"""
from __future__ import annotations

import itertools
from typing import List, Optional, Sequence, Tuple

import numpy as np


def resolve_padding(in_spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], output_padding: Sequence[int],
                    auto_pad: str = "NOTSET", pads: Optional[Sequence[int]] = None,
                    output_shape: Optional[Sequence[int]] = None
                    ) -> Tuple[List[int], List[int], List[int]]:
    """(pads_begin, pads_end, output_padding) by the rule in include/tflayout/conv_transpose.h.

    A negative total padding never gives negative pads: an ``output_shape`` past the full result
    grows ``output_padding`` (the extra positions come at the end and hold only the bias, as
    ONNX Runtime and ONNX's node test ``test_convtranspose_output_shape`` have it), and
    SAME_UPPER/SAME_LOWER with a stride above the effective kernel clamp to the full result
    (ONNX Runtime; the spec's text says in*stride)."""
    n = len(in_spatial)
    output_padding = list(output_padding)
    if auto_pad in ("NOTSET", "") and not output_shape:
        pads = list(pads or [0] * (2 * n))
        return pads[:n], pads[n:], output_padding
    if auto_pad == "VALID" and not output_shape:
        return [0] * n, [0] * n, output_padding
    begin, end = [], []
    for i in range(n):
        out = output_shape[i] if output_shape else in_spatial[i] * strides[i]
        total = (strides[i] * (in_spatial[i] - 1) + output_padding[i]
                 + (kernel[i] - 1) * dilations[i] + 1 - out)
        if total < 0:
            begin.append(0)
            end.append(0)
            if output_shape:
                output_padding[i] -= total
        elif auto_pad == "SAME_UPPER":
            begin.append(total // 2)
            end.append(total - total // 2)
        else:
            begin.append(total - total // 2)
            end.append(total // 2)
    return begin, end, output_padding


def resolve_pads(in_spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], output_padding: Sequence[int], auto_pad: str = "NOTSET",
                 pads: Optional[Sequence[int]] = None,
                 output_shape: Optional[Sequence[int]] = None) -> Tuple[List[int], List[int]]:
    """(pads_begin, pads_end) alone; raises when :func:`resolve_padding` would also grow
    output_padding (an output_shape past the full result), which these two cannot say."""
    begin, end, grown = resolve_padding(in_spatial, kernel, strides, dilations, output_padding,
                                        auto_pad, pads, output_shape)
    if list(grown) != list(output_padding):
        raise ValueError("output_shape extends past the full result: use resolve_padding, "
                         f"which grows output_padding to {grown}")
    return begin, end


def conv_transpose(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None, *,
                   strides: Sequence[int], dilations: Sequence[int], pads_begin: Sequence[int],
                   pads_end: Sequence[int], output_padding: Sequence[int],
                   group: int = 1) -> np.ndarray:
    """ONNX ConvTranspose with explicit pads; W in ONNX layout (C, M/g, k...). Computes in
    x's dtype promoted with float64 accumulation, returns x.dtype."""
    n = x.ndim - 2
    N, C = x.shape[:2]
    Mg = w.shape[1]
    Cg = C // group
    k = w.shape[2:]
    full = [(x.shape[2 + i] - 1) * strides[i] + (k[i] - 1) * dilations[i] + 1 for i in range(n)]
    ext = [max(full[i], full[i] + output_padding[i]) for i in range(n)]
    y = np.zeros((N, group * Mg) + tuple(ext), np.float64)
    xd = x.astype(np.float64)
    wd = w.astype(np.float64)
    for g in range(group):
        xg = xd[:, g * Cg:(g + 1) * Cg]
        for tap in itertools.product(*[range(kk) for kk in k]):
            wt = wd[g * Cg:(g + 1) * Cg, :, *tap]                      # (Cg, Mg)
            contrib = np.einsum("nc...,cm->nm...", xg, wt)
            sl = tuple(slice(tap[i] * dilations[i],
                             tap[i] * dilations[i] + (x.shape[2 + i] - 1) * strides[i] + 1,
                             strides[i]) for i in range(n))
            y[(slice(None), slice(g * Mg, (g + 1) * Mg)) + sl] += contrib
    out = [full[i] + output_padding[i] - pads_begin[i] - pads_end[i] for i in range(n)]
    y = y[(slice(None), slice(None)) + tuple(slice(pads_begin[i], pads_begin[i] + out[i])
                                             for i in range(n))]
    if b is not None:
        y = y + b.astype(np.float64).reshape((1, -1) + (1,) * n)
    return y.astype(x.dtype)
