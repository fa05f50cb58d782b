"""onnx-tf backend handlers for ``tflayout.ConvTransposeTF`` and ``tflayout.ConvTF``
(tflayout-opt's custom-op form).

Usage::

    import tflayout.onnx_tf_handler  # registers the handler; do this before prepare()
    import onnx_tf.backend
    rep = onnx_tf.backend.prepare(onnx.load("model.tf.onnx"))
    y = rep.run({"x": x})

How registration works in onnx-tf 1.10: ``prepare`` -> ``_get_handlers(model.opset_import)``
-> ``onnx_tf.common.handler_helper.get_all_backend_handlers`` walks
``BackendHandler.__subclasses__()`` (direct subclasses only) and files each class under
``handlers[cls.DOMAIN][cls.ONNX_OP]``. A node is dispatched by ``handlers[node.domain][op_type]``.
``SINCE_VERSION`` comes from ONNX's schema registry; our op has no schema there, so it is 1 and
``version_1`` is called whatever the model's ``tflayout`` opset version is. (ONNX's checker, run
by ``prepare``, skips nodes of domains it has no schemas for.) Defining the class is therefore
enough: it must be imported (defined) before ``prepare`` is called.

ConvTransposeTF's contract (see passes/conv_transpose_to_tf.h): inputs X (N, C, spatial...), W in TF layout
(k..., M/group, C), optional B (M); attributes kernel_shape, strides, dilations, pads
([begin..., end...]), output_padding, group; output Y (N, M, spatial...) = ONNX ConvTranspose.
Dilations > 1 are supported (kernel zero-inserted in TF ops); auto_pad/output_shape are not part
of the contract (tflayout-opt resolves them) and raise. Pads are never negative; output_padding
may reach or pass the stride: it is an output_shape past the full result, positions at the end
that hold only the bias (zeros are padded before the bias is added).

ConvTF's contract (see passes/conv_to_tf.h): inputs X (N, C, spatial...), W in TF layout
(k..., C/group, M), optional B (M); attributes as the original Conv wrote them: kernel_shape,
strides, dilations, group, pads ([begin..., end...]) and auto_pad (NOTSET, VALID, SAME_UPPER,
SAME_LOWER; the SAME pads are computed from X's shape as ONNX does, also when it is only known
at run time); output Y (N, M, spatial...) = ONNX Conv. Computed by tflayout.tf_ops.conv.
"""
from __future__ import annotations

from onnx_tf.handlers.backend_handler import BackendHandler
from onnx_tf.handlers.handler import domain, onnx_op

from . import CUSTOM_CONV_OP, CUSTOM_DOMAIN, CUSTOM_OP
from .tf_ops import conv, conv_transpose


@onnx_op(CUSTOM_OP)
@domain(CUSTOM_DOMAIN)
class ConvTransposeTF(BackendHandler):
    """Maps tflayout.ConvTransposeTF onto tf.nn.conv_transpose with the kernel as stored."""

    @classmethod
    def args_check(cls, node, **kwargs):
        auto_pad = node.attrs.get("auto_pad", "NOTSET")
        if isinstance(auto_pad, bytes):
            auto_pad = auto_pad.decode()
        if auto_pad not in ("NOTSET", "VALID", "") or node.attrs.get("output_shape"):
            raise ValueError(
                f"tflayout.ConvTransposeTF node '{node.name}': auto_pad={auto_pad!r} / "
                "output_shape are not part of the op's contract; tflayout-opt writes explicit "
                "pads (run resolve-conv-transpose-pads with known input shapes)")
        if len(node.inputs) < 2:
            raise ValueError(f"tflayout.ConvTransposeTF node '{node.name}': needs X and W")

    @classmethod
    def _convert(cls, node, **kwargs):
        x, w, b, n, pads = _operands(node, kwargs, "ConvTransposeTF", "(k..., M/group, C)")
        attrs = node.attrs
        y = conv_transpose(
            x, w, b,
            strides=attrs.get("strides", [1] * n),
            dilations=attrs.get("dilations", [1] * n),
            pads_begin=pads[:n], pads_end=pads[n:],
            output_padding=attrs.get("output_padding", [0] * n),
            group=attrs.get("group", 1))
        return [y]

    @classmethod
    def version_1(cls, node, **kwargs):
        return cls._convert(node, **kwargs)


def _operands(node, kwargs, op_type: str, layout: str):
    """X, W (TF layout, checked against kernel_shape), the optional bias, the spatial rank and
    the pads of a tflayout custom convolution node."""
    tensor_dict = kwargs["tensor_dict"]
    x = tensor_dict[node.inputs[0]]
    w = tensor_dict[node.inputs[1]]
    b = tensor_dict[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    n = len(w.shape) - 2
    kernel_shape = node.attrs.get("kernel_shape")
    if kernel_shape is not None and w.shape.is_fully_defined() and \
            list(kernel_shape) != [int(v) for v in w.shape[:n]]:
        raise ValueError(f"tflayout.{op_type} node '{node.name}': kernel_shape "
                         f"{list(kernel_shape)} disagrees with W '{node.inputs[1]}' "
                         f"{w.shape.as_list()} (W must be in TF layout {layout})")
    pads = list(node.attrs.get("pads", [0] * (2 * n)))
    if len(pads) != 2 * n:
        raise ValueError(f"tflayout.{op_type} node '{node.name}': pads has {len(pads)} "
                         f"values, expected {2 * n}")
    return x, w, b, n, pads


def _string_attr(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


@onnx_op(CUSTOM_CONV_OP)
@domain(CUSTOM_DOMAIN)
class ConvTF(BackendHandler):
    """Maps tflayout.ConvTF onto tf.nn.convolution / tf.nn.depthwise_conv2d with the kernel as
    stored (no weight transpose)."""

    @classmethod
    def args_check(cls, node, **kwargs):
        auto_pad = _string_attr(node.attrs.get("auto_pad"), "NOTSET")
        if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", ""):
            raise ValueError(f"tflayout.ConvTF node '{node.name}': unknown auto_pad "
                             f"{auto_pad!r}")
        if len(node.inputs) < 2:
            raise ValueError(f"tflayout.ConvTF node '{node.name}': needs X and W")

    @classmethod
    def _convert(cls, node, **kwargs):
        x, w, b, n, pads = _operands(node, kwargs, "ConvTF", "(k..., C/group, M)")
        attrs = node.attrs
        y = conv(x, w, b,
                 strides=attrs.get("strides", [1] * n),
                 dilations=attrs.get("dilations", [1] * n),
                 pads_begin=pads[:n], pads_end=pads[n:],
                 group=attrs.get("group", 1),
                 auto_pad=_string_attr(attrs.get("auto_pad"), "NOTSET") or "NOTSET")
        return [y]

    @classmethod
    def version_1(cls, node, **kwargs):
        return cls._convert(node, **kwargs)


def register() -> tuple:
    """No-op kept for readability at call sites: importing this module registers the handlers."""
    return ConvTransposeTF, ConvTF
