"""Keras-ready kernels and layer settings for people porting ConvTranspose weights by hand.

    from tflayout.keras import conv_transpose_layers
    for spec in conv_transpose_layers(onnx.load("model.onnx")):   # raw or tflayout-processed
        if spec.exact:
            layers = spec.build_layers()          # [Conv2DTranspose(...)] (+ [Cropping2D(...)])
        else:
            print(spec.node, spec.reason, spec.tf_nn)

Layouts: the Keras ``Conv{n}DTranspose`` kernel is ``kernel_size + (filters, input_channels)``,
which is TF's layout ``(k..., M/group, C)``; ONNX/PyTorch store ``(C, M/group, k...)``, so the
kernel is ``W.transpose(2, ..., r-1, 1, 0)``. For a tflayout-processed model the kernel is read
as stored (``W__tf``), with no transpose. Keras layers are channels-last: feed
``x.transpose(0, 2, ..., 1)`` and transpose the result back.

What one Keras layer (+ a Cropping layer) expresses exactly:
- any non-negative begin/end pads: ``padding="valid"`` then ``Cropping{n}D((begin, end), ...)``;
  ``padding="same"`` (no cropping) when that is exactly the same thing (no output_padding, end
  pad = begin pad or begin pad + 1, total = k_eff - stride);
- output_padding < stride (Keras' own limit): ``output_padding=`` on the layer; that is also how
  an ``output_shape`` past the full result arrives (tflayout resolves it to pads 0 and a larger
  output_padding: bias-only positions at the end, which Keras' output_padding gives too), and
  SAME_* with a stride above the effective kernel resolves to pads 0 (ONNX Runtime's result);
- dilations: the kernel is zero-inserted to size (k-1)*d+1 and ``dilation_rate=1`` (Keras
  rejects dilation_rate > 1 with strides > 1, and TF's CPU kernels reject dilated transposed
  convolutions), unless ``materialize_dilations=False`` and the strides are 1.
Not expressible (``exact=False`` with ``reason`` and the ``tf_nn`` recipe that does it):
groups (Keras transposed convolutions have no ``groups``; ``group_kernels`` holds the per-group
kernels for a split/concat model), output_padding >= stride (including an output_shape a
stride or more past the full result), unresolved pads (unknown input
shape), spatial rank other than 1-3.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from onnx import numpy_helper

from .annotation import read_annotation
from .reference import resolve_padding


@dataclasses.dataclass
class KerasConvTranspose:
    node: str
    weight: str                       # the initializer the kernel came from
    rank: int                         # spatial rank n
    kernel: np.ndarray                # Keras/TF layout kernel_size + (filters/group, in_channels)
    bias: Optional[np.ndarray]
    group: int
    strides: Tuple[int, ...]
    dilations: Tuple[int, ...]        # the node's dilations (before materializing)
    pads_begin: Tuple[int, ...]
    pads_end: Tuple[int, ...]
    output_padding: Tuple[int, ...]
    exact: bool
    reason: Optional[str] = None      # why Keras cannot express it exactly (exact=False)
    tf_nn: str = ""                   # the tf.nn recipe that computes it exactly
    layer_class: str = ""             # "Conv2DTranspose"
    layer_config: Dict[str, Any] = dataclasses.field(default_factory=dict)
    cropping_class: Optional[str] = None
    cropping: Optional[Tuple[Tuple[int, int], ...]] = None
    group_kernels: List[np.ndarray] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)

    def build_layers(self, input_channels: Optional[int] = None):
        """Keras layers with the weights set (needs exact=True): [ConvNDTranspose, CroppingND?]."""
        if not self.exact:
            raise ValueError(f"node '{self.node}': {self.reason}")
        import tensorflow as tf
        conv = getattr(tf.keras.layers, self.layer_class)(**self.layer_config)
        c = input_channels or self.kernel.shape[-1]
        conv.build((None,) + (None,) * self.rank + (c,))
        conv.set_weights([self.kernel] + ([self.bias] if self.bias is not None else []))
        layers = [conv]
        if self.cropping is not None:
            layers.append(getattr(tf.keras.layers, self.cropping_class)(cropping=self.cropping))
        return layers


def materialize_dilations(kernel_tf: np.ndarray, dilations) -> np.ndarray:
    """Zero-inserts a TF-layout kernel (k..., M/g, C) to size (k-1)*d+1 per spatial axis."""
    n = kernel_tf.ndim - 2
    if all(d == 1 for d in dilations):
        return kernel_tf
    shape = [(kernel_tf.shape[i] - 1) * dilations[i] + 1 for i in range(n)] + list(kernel_tf.shape[n:])
    out = np.zeros(shape, kernel_tf.dtype)
    out[tuple(slice(None, None, d) for d in dilations)] = kernel_tf
    return out


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            if a.type == a.INTS:
                return list(a.ints)
            if a.type == a.INT:
                return a.i
            if a.type == a.STRING:
                return a.s.decode()
            if a.type == a.FLOAT:
                return a.f
    return default


def _input_shapes(model) -> Dict[str, List[int]]:
    import onnx
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001
        inferred = model
    shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return shapes


def describe(kernel_tf, bias, *, node, weight, strides, dilations, pads_begin, pads_end,
             output_padding, group, pads_resolved=True, materialize=True) -> KerasConvTranspose:
    """Keras settings for one transposed convolution given its TF-layout kernel."""
    n = kernel_tf.ndim - 2
    strides, dilations = tuple(strides), tuple(dilations)
    pads_begin, pads_end, output_padding = tuple(pads_begin), tuple(pads_end), tuple(output_padding)
    spec = KerasConvTranspose(node=node, weight=weight, rank=n, kernel=kernel_tf, bias=bias,
                              group=group, strides=strides, dilations=dilations,
                              pads_begin=pads_begin, pads_end=pads_end,
                              output_padding=output_padding, exact=True)
    spec.tf_nn = (f"tflayout.tf_ops.conv_transpose(x_nc, kernel, bias, strides={list(strides)}, "
                  f"dilations={list(dilations)}, pads_begin={list(pads_begin)}, "
                  f"pads_end={list(pads_end)}, output_padding={list(output_padding)}, "
                  f"group={group}): tf.nn.conv{n}d_transpose per group with padding='VALID' on the "
                  "zero-inserted kernel, then crop pads_begin/pads_end (zeros for output_padding "
                  "past the end), concat groups, add bias")
    if n not in (1, 2, 3):
        spec.exact, spec.reason = False, f"spatial rank {n}: Keras/TF have 1-D, 2-D and 3-D only"
        return spec
    kernel = kernel_tf
    dil_rate = dilations
    if any(d > 1 for d in dilations):
        if materialize or any(s > 1 for s in strides):
            kernel = materialize_dilations(kernel_tf, dilations)
            dil_rate = (1,) * n
            spec.notes.append(f"dilations {list(dilations)} materialized: kernel_size "
                              f"{list(kernel_tf.shape[:n])} -> {list(kernel.shape[:n])} with zeros "
                              "between the taps (Keras rejects dilation_rate > 1 with strides > 1)")
    spec.kernel = kernel
    m_per_group = kernel.shape[n]
    if group > 1:
        c_per_group = kernel.shape[-1] // group
        spec.group_kernels = [kernel[..., g * c_per_group:(g + 1) * c_per_group] for g in range(group)]
    if not pads_resolved:
        spec.exact, spec.reason = False, ("pads not resolved (auto_pad/output_shape with an unknown "
                                          "input shape): run tflayout-opt on a model with static "
                                          "input shapes")
        return spec
    if group > 1:
        spec.exact = False
        spec.reason = (f"group={group}: Keras Conv{n}DTranspose has no groups argument; build "
                       f"{group} Conv{n}DTranspose layers (filters={m_per_group}) on channel "
                       "slices (kernels in group_kernels) and Concatenate, or use the tf.nn recipe")
    elif any(op >= s for op, s in zip(output_padding, strides)):
        spec.exact = False
        spec.reason = (f"output_padding {list(output_padding)} >= strides {list(strides)}: Keras "
                       "requires output_padding < stride")
    k_eff = [(kernel.shape[i] - 1) * dil_rate[i] + 1 for i in range(n)]
    totals = [k_eff[i] - strides[i] for i in range(n)]
    same = (all(op == 0 for op in output_padding) and all(
        totals[i] >= 0 and pads_begin[i] == totals[i] // 2 and
        pads_end[i] == totals[i] - totals[i] // 2 for i in range(n)))
    spec.layer_class = f"Conv{n}DTranspose"
    cfg = dict(filters=int(m_per_group), kernel_size=tuple(int(v) for v in kernel.shape[:n]),
               strides=strides, padding="same" if same else "valid",
               output_padding=None if same else output_padding, dilation_rate=dil_rate,
               use_bias=bias is not None, data_format="channels_last")
    spec.layer_config = cfg
    if not same and any(p > 0 for p in pads_begin + pads_end):
        spec.cropping_class = f"Cropping{n}D"
        spec.cropping = tuple((int(b), int(e)) for b, e in zip(pads_begin, pads_end))
    return spec


def _split_biases(model, inits):
    """{ConvTranspose output: bias} for the BatchNormalization nodes that
    split-conv-transpose-bias puts after 3-D ConvTranspose nodes: unit scale and variance, zero
    mean, epsilon 0, so all they do is add their B (the node's original bias)."""
    found = {}
    for n in model.graph.node:
        if n.op_type != "BatchNormalization" or len(n.input) != 5:
            continue
        if not all(name in inits for name in n.input[1:]):
            continue
        scale, b, mean, var = (numpy_helper.to_array(inits[name]) for name in n.input[1:])
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        if eps == 0 and np.all(scale == 1) and np.all(mean == 0) and np.all(var == 1):
            found[n.input[0]] = b
    return found


def conv_transpose_layers(model, materialize: bool = True) -> List[KerasConvTranspose]:
    """One KerasConvTranspose per (Conv|ConvTransposeTF) node with a constant weight.

    For a tflayout-processed model the annotation is used (kernel read as stored, pads as
    resolved by tflayout-opt); ConvTranspose nodes it does not cover are read from their
    attributes (pads resolved here with the ONNX rule when shapes are known).
    """
    inits = {i.name: i for i in model.graph.initializer}
    ann = read_annotation(model) or {"tensors": []}
    by_node = {e["node"]: e for e in ann["tensors"] if not e.get("graph")}
    shapes = None
    out = []
    split_biases = _split_biases(model, inits)
    for node in model.graph.node:
        is_custom = node.domain == "tflayout" and node.op_type == "ConvTransposeTF"
        if node.op_type != "ConvTranspose" and not is_custom:
            continue
        bias = None
        if len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
        elif node.output and node.output[0] in split_biases:
            bias = split_biases[node.output[0]]
        entry = by_node.get(node.name)
        if entry is not None and entry["tensor"] in inits:
            t = entry["tf"]
            out.append(describe(numpy_helper.to_array(inits[entry["tensor"]]), bias, node=node.name,
                                weight=entry["tensor"], strides=t["strides"],
                                dilations=t["dilations"], pads_begin=t["pads_begin"],
                                pads_end=t["pads_end"], output_padding=t["output_padding"],
                                group=t["group"], pads_resolved=t.get("pads_resolved", False),
                                materialize=materialize))
            continue
        if is_custom or node.input[1] not in inits:
            continue  # weight not constant (or a custom node without an annotation entry)
        w = numpy_helper.to_array(inits[node.input[1]])
        n = w.ndim - 2
        kernel_tf = np.transpose(w, list(range(2, n + 2)) + [1, 0])
        strides = _attr(node, "strides", [1] * n)
        dilations = _attr(node, "dilations", [1] * n)
        output_padding = _attr(node, "output_padding", [0] * n)
        auto_pad = _attr(node, "auto_pad", "NOTSET")
        output_shape = _attr(node, "output_shape", None)
        pads = _attr(node, "pads", [0] * (2 * n))
        resolved = True
        if auto_pad in ("NOTSET", "VALID") and not output_shape:
            pb, pe, output_padding = resolve_padding([1] * n, list(w.shape[2:]), strides,
                                                     dilations, output_padding, auto_pad, pads,
                                                     None)
        else:
            shapes = shapes if shapes is not None else _input_shapes(model)
            in_shape = shapes.get(node.input[0], [])
            if len(in_shape) == n + 2 and all(d > 0 for d in in_shape[2:]):
                pb, pe, output_padding = resolve_padding(
                    in_shape[2:], list(w.shape[2:]), strides, dilations, output_padding,
                    auto_pad, pads, output_shape)
            else:
                pb, pe, resolved = [0] * n, [0] * n, False
        out.append(describe(kernel_tf, bias, node=node.name, weight=node.input[1], strides=strides,
                            dilations=dilations, pads_begin=pb, pads_end=pe,
                            output_padding=output_padding, group=_attr(node, "group", 1),
                            pads_resolved=resolved, materialize=materialize))
    return out


@dataclasses.dataclass
class KerasConv:
    """A Conv node's kernel in Keras/TF layout ``kernel_size + (C/group, M)`` and its settings.

    ``depthwise`` (group = input channels > 1): ``depthwise_kernel`` is the same elements as
    Keras' ``DepthwiseConv{n}D`` kernel ``kernel_size + (C, multiplier)``. Explicit pads become
    a ``ZeroPadding{n}D`` before a ``padding="valid"`` layer.
    """
    node: str
    weight: str
    rank: int
    kernel: np.ndarray
    bias: Optional[np.ndarray]
    group: int
    strides: Tuple[int, ...]
    dilations: Tuple[int, ...]
    pads_begin: Tuple[int, ...]
    pads_end: Tuple[int, ...]

    @property
    def input_channels(self) -> int:
        return self.kernel.shape[-2] * self.group

    @property
    def depthwise(self) -> bool:
        return self.group > 1 and self.group == self.input_channels

    @property
    def depthwise_kernel(self) -> np.ndarray:
        c = self.input_channels
        return self.kernel.reshape(self.kernel.shape[:-2] + (c, self.kernel.shape[-1] // c))

    def build_layers(self):
        """[ZeroPadding{n}D?, Conv{n}D | DepthwiseConv{n}D] with the weights set."""
        import tensorflow as tf
        n = self.rank
        layers = []
        if any(self.pads_begin) or any(self.pads_end):
            pads = tuple(zip(self.pads_begin, self.pads_end))
            layers.append(getattr(tf.keras.layers, f"ZeroPadding{n}D")(
                padding=pads[0] if n == 1 else pads))
        common = dict(kernel_size=self.kernel.shape[:n], strides=tuple(self.strides),
                      dilation_rate=tuple(self.dilations), padding="valid",
                      use_bias=self.bias is not None)
        if self.depthwise and n in (1, 2):
            conv = getattr(tf.keras.layers, f"DepthwiseConv{n}D")(
                depth_multiplier=self.kernel.shape[-1] // self.input_channels, **common)
            kernel = self.depthwise_kernel
        else:
            conv = getattr(tf.keras.layers, f"Conv{n}D")(filters=self.kernel.shape[-1],
                                                         groups=self.group, **common)
            kernel = self.kernel
        conv.build((None,) + (None,) * n + (self.input_channels,))
        conv.set_weights([kernel] + ([self.bias] if self.bias is not None else []))
        return layers + [conv]


def _conv_from_node(node, kernel_tf, bias, weight) -> KerasConv:
    n = kernel_tf.ndim - 2
    if _attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"node '{node.name}': auto_pad "
                         f"{_attr(node, 'auto_pad', '')} needs the input shape; resolve it first")
    pads = _attr(node, "pads", [0] * (2 * n))
    if _attr(node, "auto_pad", "NOTSET") == "VALID":
        pads = [0] * (2 * n)
    return KerasConv(node=node.name, weight=weight, rank=n, kernel=kernel_tf, bias=bias,
                     group=_attr(node, "group", 1), strides=tuple(_attr(node, "strides", [1] * n)),
                     dilations=tuple(_attr(node, "dilations", [1] * n)),
                     pads_begin=tuple(pads[:n]), pads_end=tuple(pads[n:]))


def conv_layers(model) -> List[KerasConv]:
    """One KerasConv per Conv node of the main graph with a constant weight: read as stored
    when conv-to-tf rewrote it (annotation op_type "Conv": a Conv reading our Transpose of it,
    compensate form, or a ``tflayout.ConvTF`` reading it directly, custom-op form), else
    transposed here from ONNX's ``(M, C/group, k...)``."""
    from . import CUSTOM_CONV_OP, CUSTOM_DOMAIN
    inits = {i.name: i for i in model.graph.initializer}
    ann = read_annotation(model) or {"tensors": []}
    by_source = {e["source"]: e for e in ann["tensors"]
                 if e.get("op_type") == "Conv" and not e.get("graph")}
    out = []
    for node in model.graph.node:
        custom = node.op_type == CUSTOM_CONV_OP and node.domain == CUSTOM_DOMAIN
        standard = node.op_type == "Conv" and node.domain in ("", "ai.onnx")
        if not (custom or standard) or len(node.input) < 2:
            continue
        bias = None
        if len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
        entry = by_source.get(node.input[1])
        if custom and node.input[1] in inits:  # the contract: W is in TF layout already
            kernel = numpy_helper.to_array(inits[node.input[1]])
            out.append(_conv_from_node(node, kernel, bias, node.input[1]))
        elif standard and entry is not None and entry["tensor"] in inits:
            kernel = numpy_helper.to_array(inits[entry["tensor"]])
            out.append(_conv_from_node(node, kernel, bias, entry["tensor"]))
        elif standard and node.input[1] in inits:
            w = numpy_helper.to_array(inits[node.input[1]])
            kernel = np.transpose(w, list(range(2, w.ndim)) + [1, 0])
            out.append(_conv_from_node(node, kernel, bias, node.input[1]))
    return out


@dataclasses.dataclass
class KerasDense:
    """A Gemm's constant B as a Keras ``Dense`` kernel ``(in, out)`` (B itself when transB=0,
    B transposed when transB=1, as torch's Linear exports it), and its 1-D bias."""
    node: str
    weight: str
    kernel: np.ndarray
    bias: Optional[np.ndarray]

    def build_layer(self):
        import tensorflow as tf
        dense = tf.keras.layers.Dense(self.kernel.shape[1], use_bias=self.bias is not None)
        dense.build((None, self.kernel.shape[0]))
        dense.set_weights([self.kernel] + ([self.bias] if self.bias is not None else []))
        return dense


def dense_layers(model) -> List[KerasDense]:
    """One KerasDense per Gemm of the main graph that a Dense layer computes: constant B,
    alpha = beta = 1, transA = 0, and a constant 1-D C (or none)."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "Gemm" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if _attr(node, "alpha", 1.0) != 1.0 or _attr(node, "beta", 1.0) != 1.0 or \
                _attr(node, "transA", 0):
            continue
        b = numpy_helper.to_array(inits[node.input[1]])
        kernel = b.T.copy() if _attr(node, "transB", 0) else b
        bias = None
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in inits:
                continue
            bias = numpy_helper.to_array(inits[node.input[2]])
            if bias.shape != (kernel.shape[1],):
                continue
        out.append(KerasDense(node=node.name, weight=node.input[1], kernel=kernel, bias=bias))
    return out
