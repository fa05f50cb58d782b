"""ONNX ConvTranspose in TensorFlow ops, on a TF-layout kernel, with no weight transpose.

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
