"""Path (a): one annotated ConvTranspose computed with ``tf.nn`` directly.

Given an annotation entry (``tflayout.annotation`` JSON, parsed by
:func:`tflayout.annotation.parse_annotation`), the TF-layout kernel the entry names, the bias and
an input in ONNX layout (N, C, ...), returns the ONNX ConvTranspose output (N, M, ...) as NumPy.
No weight transpose happens: the kernel goes to ``tf.nn.conv_transpose`` as stored.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np


def settings_from_entry(entry: Dict[str, Any]) -> Dict[str, Any]:
    tf_settings = entry["tf"]
    if not tf_settings.get("pads_resolved", False):
        raise ValueError(
            f"tflayout: node '{entry.get('node')}': pads are not resolved in the annotation "
            f"(auto_pad={tf_settings.get('auto_pad')!r}, output_shape="
            f"{tf_settings.get('output_shape')}); run resolve-conv-transpose-pads on a model "
            "with known input shapes")
    return dict(strides=tf_settings["strides"], dilations=tf_settings["dilations"],
                pads_begin=tf_settings["pads_begin"], pads_end=tf_settings["pads_end"],
                output_padding=tf_settings["output_padding"], group=tf_settings["group"])


def conv_transpose_from_annotation(entry: Dict[str, Any], w_tf: np.ndarray,
                                   bias: Optional[np.ndarray], x: np.ndarray) -> np.ndarray:
    import tensorflow as tf
    from .tf_ops import conv_transpose

    if list(w_tf.shape) != list(entry["tf_dims"]):
        raise ValueError(f"tflayout: kernel '{entry.get('tensor')}' has dims {list(w_tf.shape)}, "
                         f"the annotation says tf_dims {entry['tf_dims']}")
    with tf.device("/CPU:0"):
        y = conv_transpose(tf.constant(x), tf.constant(w_tf),
                           None if bias is None else tf.constant(bias), **settings_from_entry(entry))
    return y.numpy()
