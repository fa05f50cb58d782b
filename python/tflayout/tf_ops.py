"""ONNX ConvTranspose and Conv in TensorFlow ops, on TF-layout kernels, with no weight transpose.

``conv_transpose`` (below ``dilate_kernel``) and ``conv`` (at the end) are what the onnx-tf
handlers for ``tflayout.ConvTransposeTF`` and ``tflayout.ConvTF`` compute.

Layouts: ``x`` is ONNX layout ``(N, C, d1..dn)``; ``w_tf`` is TF layout ``(k1..kn, M/group, C)``
(what ``tf.nn.conv{1,2,3}d_transpose`` calls ``filters``: ``(..., out_channels, in_channels)``);
the result is ONNX layout ``(N, M, o1..on)``.

How (exactly ONNX's math, on the CPU kernels TF has):
- the activations (never the weights) go NC... -> N...C, because TF's CPU transposed
  convolutions only support channels-last;
- dilations > 1 are applied by zero-inserting the kernel in TF ops (size (k-1)*d+1), because
  TF's CPU kernels reject dilated transposed convolutions;
- groups: the input is split along channels and the kernel along its last axis (C), one
  ``tf.nn.conv_transpose`` per group, results concatenated along channels;
- padding: VALID (the full output, size (in-1)*s + (k-1)*d + 1), then a crop of pads_begin at
  the start; rows past the full output that output_padding asks for are zeros (ONNX adds
  output_padding at the end), then pads_end is dropped; bias is added everywhere.
"""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf


def _dim(t: tf.Tensor, axis: int):
    """A static dim when known, else a scalar tensor."""
    static = t.shape[axis]
    return int(static) if static is not None else tf.shape(t)[axis]


def dilate_kernel(w_tf: tf.Tensor, dilations: Sequence[int]) -> tf.Tensor:
    """Zero-inserts a TF-layout kernel (k..., M/g, C): size (k-1)*d+1 along each spatial axis."""
    n = len(dilations)
    for axis, d in enumerate(dilations):
        d = int(d)
        if d == 1:
            continue
        k = _dim(w_tf, axis)
        w = tf.expand_dims(w_tf, axis + 1)                       # (.., k, 1, ..)
        paddings = [[0, 0]] * (n + 3)
        paddings[axis + 1] = [0, d - 1]
        w = tf.pad(w, paddings)                                   # (.., k, d, ..)
        shape = tf.concat([tf.shape(w)[:axis], [k * d], tf.shape(w)[axis + 2:]], axis=0)
        w = tf.reshape(w, shape)                                  # (.., k*d, ..)
        begin = [0] * (n + 2)
        size = [-1] * (n + 2)
        size[axis] = (k - 1) * d + 1
        w_tf = tf.slice(w, begin, size)
    return w_tf


def conv_transpose(x: tf.Tensor, w_tf: tf.Tensor, bias: Optional[tf.Tensor] = None, *,
                   strides: Sequence[int], dilations: Optional[Sequence[int]] = None,
                   pads_begin: Optional[Sequence[int]] = None,
                   pads_end: Optional[Sequence[int]] = None,
                   output_padding: Optional[Sequence[int]] = None,
                   group: int = 1) -> tf.Tensor:
    """ONNX ConvTranspose (explicit pads) of ``x`` (N, C, ...) with TF-layout ``w_tf``.

    Returns (N, M, ...) where M = group * w_tf.shape[-2].
    """
    n = len(w_tf.shape) - 2
    if n not in (1, 2, 3):
        raise ValueError(f"tflayout: transposed convolution of spatial rank {n} is not "
                         "supported by TensorFlow (1-D, 2-D and 3-D only)")
    strides = [int(s) for s in strides]
    dilations = [int(d) for d in (dilations or [1] * n)]
    pads_begin = [int(p) for p in (pads_begin or [0] * n)]
    pads_end = [int(p) for p in (pads_end or [0] * n)]
    output_padding = [int(p) for p in (output_padding or [0] * n)]
    group = int(group)
    if any(p < 0 for p in pads_begin + pads_end + output_padding):
        raise ValueError("tflayout: negative pads or output_padding are not valid ONNX")
    x = tf.convert_to_tensor(x)
    w_tf = tf.convert_to_tensor(w_tf, dtype=x.dtype)
    if any(d != 1 for d in dilations):
        w_tf = dilate_kernel(w_tf, dilations)
    k_eff = [_dim(w_tf, i) for i in range(n)]
    m_per_group = _dim(w_tf, n)

    xt = tf.transpose(x, [0] + list(range(2, n + 2)) + [1])      # N, d..., C
    batch = _dim(xt, 0)
    in_sizes = [_dim(xt, i + 1) for i in range(n)]
    full = [(in_sizes[i] - 1) * strides[i] + k_eff[i] for i in range(n)]
    out_shape = [batch] + full + [m_per_group]
    if any(isinstance(v, tf.Tensor) for v in out_shape):
        out_shape = tf.stack([tf.cast(v, tf.int32) for v in out_shape])

    if group == 1:
        xs, ws = [xt], [w_tf]
    else:
        xs = tf.split(xt, group, axis=n + 1)
        ws = tf.split(w_tf, group, axis=n + 1)
    ys = [tf.nn.conv_transpose(xg, wg, output_shape=out_shape, strides=strides,
                               padding="VALID") for xg, wg in zip(xs, ws)]
    y = ys[0] if group == 1 else tf.concat(ys, axis=n + 1)       # N, full..., M

    # ONNX output index j on axis i reads the full output at j + pads_begin[i]; positions past
    # the full output (output_padding beyond the end pad) are zeros.
    out_sizes = [full[i] + output_padding[i] - pads_begin[i] - pads_end[i] for i in range(n)]
    extend = [tf.maximum(out_sizes[i] + pads_begin[i] - full[i], 0)
              if isinstance(full[i], tf.Tensor) else max(out_sizes[i] + pads_begin[i] - full[i], 0)
              for i in range(n)]
    if any(isinstance(e, tf.Tensor) or e > 0 for e in extend):
        y = tf.pad(y, [[0, 0]] + [[0, e] for e in extend] + [[0, 0]])
    if any(p > 0 for p in pads_begin) or any(isinstance(e, tf.Tensor) or e != 0
                                               for e in extend) or any(p > 0 for p in pads_end):
        begin = [0] + pads_begin + [0]
        size = [-1] + out_sizes + [-1]
        y = tf.slice(y, begin, size)
    y = tf.transpose(y, [0, n + 1] + list(range(1, n + 1)))     # N, M, o...
    if bias is not None:
        b = tf.convert_to_tensor(bias, dtype=y.dtype)
        y = y + tf.reshape(b, [1, -1] + [1] * n)
    return y


def same_pads(in_size, kernel: int, stride: int, dilation: int, auto_pad: str):
    """ONNX Conv's SAME_UPPER/SAME_LOWER pads (begin, end) for one axis: the output is
    ceil(in / stride) and the total pad max(0, (out-1)*stride + (k-1)*dilation + 1 - in) is
    split with the odd position at the end (SAME_UPPER) or the beginning (SAME_LOWER).
    ``in_size`` may be a scalar tensor (unknown static size)."""
    k_eff = (kernel - 1) * dilation + 1
    if isinstance(in_size, tf.Tensor):
        out = (in_size + stride - 1) // stride
        total = tf.maximum((out - 1) * stride + k_eff - in_size, 0)
    else:
        out = -(-in_size // stride)
        total = max((out - 1) * stride + k_eff - in_size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if auto_pad == "SAME_UPPER" else (large, small)


def conv(x: tf.Tensor, w_tf: tf.Tensor, bias: Optional[tf.Tensor] = None, *,
         strides: Optional[Sequence[int]] = None, dilations: Optional[Sequence[int]] = None,
         pads_begin: Optional[Sequence[int]] = None, pads_end: Optional[Sequence[int]] = None,
         group: int = 1, auto_pad: str = "NOTSET") -> tf.Tensor:
    """ONNX Conv of ``x`` (N, C, d...) with the TF-layout kernel ``w_tf`` (k..., C/group, M).

    Returns (N, M, o...). How, on the CPU kernels TF has:
    - activations go NC... -> N...C and back (TF's CPU convolutions are channels-last only);
    - pads: explicit ones (or SAME_UPPER/SAME_LOWER computed from x's shape, as ONNX does) with
      tf.pad, then padding="VALID", so any asymmetric split is exact;
    - dilations with strides > 1 (which TF's convolutions reject together) by zero-inserting the
      kernel, which adds only exact zero products;
    - group == 1: tf.nn.convolution; 2-D depthwise (C/group == 1, group == C):
      tf.nn.depthwise_conv2d on the kernel reshaped (k1, k2, 1, C*mult) -> (k1, k2, C, mult),
      the same element order; other groups (TF's CPU kernels have no grouped convolution):
      one tf.nn.convolution per group on channel slices, concatenated;
    - the bias is added per output channel.
    """
    n = len(w_tf.shape) - 2
    if n not in (1, 2, 3):
        raise ValueError(f"tflayout: convolution of spatial rank {n} is not supported by "
                         "TensorFlow (1-D, 2-D and 3-D only)")
    strides = [int(s) for s in (strides or [1] * n)]
    dilations = [int(d) for d in (dilations or [1] * n)]
    group = int(group)
    x = tf.convert_to_tensor(x)
    w_tf = tf.convert_to_tensor(w_tf, dtype=x.dtype)
    xt = tf.transpose(x, [0] + list(range(2, n + 2)) + [1])       # N, d..., C
    xt = _pad_for_conv(xt, w_tf, strides, dilations, pads_begin, pads_end, auto_pad)
    if any(d > 1 for d in dilations) and any(s > 1 for s in strides):
        w_tf = dilate_kernel(w_tf, dilations)
        dilations = [1] * n
    c_per_group = _dim(w_tf, n)
    if group == 1:
        y = tf.nn.convolution(xt, w_tf, strides=strides, padding="VALID", dilations=dilations)
    elif n == 2 and c_per_group == 1:
        y = _depthwise_conv2d(xt, w_tf, group, strides, dilations)
    else:
        xs = tf.split(xt, group, axis=n + 1)
        ws = tf.split(w_tf, group, axis=n + 1)
        y = tf.concat([tf.nn.convolution(xg, wg, strides=strides, padding="VALID",
                                         dilations=dilations) for xg, wg in zip(xs, ws)],
                      axis=n + 1)
    if bias is not None:
        y = y + tf.convert_to_tensor(bias, dtype=y.dtype)           # channels-last broadcast
    return tf.transpose(y, [0, n + 1] + list(range(1, n + 1)))      # N, M, o...


def _pad_for_conv(xt, w_tf, strides, dilations, pads_begin, pads_end, auto_pad):
    """xt (N, d..., C) padded with zeros as the Conv's pads or auto_pad say."""
    n = len(strides)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [same_pads(_dim(xt, i + 1), int(w_tf.shape[i]), strides[i], dilations[i],
                           auto_pad) for i in range(n)]
    elif auto_pad in ("NOTSET", "VALID", ""):
        begin = [0] * n if auto_pad == "VALID" else [int(p) for p in (pads_begin or [0] * n)]
        end = [0] * n if auto_pad == "VALID" else [int(p) for p in (pads_end or [0] * n)]
        if any(p < 0 for p in begin + end):
            raise ValueError("tflayout: negative Conv pads are not valid ONNX")
        pairs = list(zip(begin, end))
    else:
        raise ValueError(f"tflayout: unknown Conv auto_pad {auto_pad!r}")
    if all(not isinstance(p, tf.Tensor) and p == 0 for pair in pairs for p in pair):
        return xt
    return tf.pad(xt, [[0, 0]] + [list(pair) for pair in pairs] + [[0, 0]])


def _depthwise_conv2d(xt, w_tf, channels, strides, dilations):
    """A 2-D depthwise Conv (C/group == 1, group == C): output channel c*mult + j reads input
    channel c, which is depthwise_conv2d's order for the filter (k1, k2, C, mult)."""
    mult = _dim(w_tf, 3) // channels
    w = tf.reshape(w_tf, [_dim(w_tf, 0), _dim(w_tf, 1), channels, mult])
    return tf.nn.depthwise_conv2d(xt, w, strides=[1] + strides + [1], padding="VALID",
                                  dilations=dilations)
