"""Shared machinery for the ConvTranspose equivalence tests.

- ``generate_configs``: seeded random ConvTranspose configurations (valid ONNX).
- ``build_batch_model``: one ONNX model holding many independent ConvTranspose nodes
  (inputs x{i}, weights W{i}, optional bias B{i}, outputs y{i}, node names ct{i}), so that the
  tool, ONNX Runtime and onnx-tf (``prepare`` traces a tf.function: slow) run once per batch.
- ``run_onnx_tf_contained``: onnx-tf prepare+run where a node whose handler raises is recorded
  as rejected (its output becomes empty) instead of failing the whole batch. The nodes are
  independent, so this equals converting each configuration on its own, at one trace per batch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_PIPELINE = ("inline-conv-transpose-functions,fold-conv-transpose-weights,"
                    "resolve-conv-transpose-pads,materialize-conv-transpose-dilations,"
                    "split-conv-transpose-bias,conv-transpose-to-tf")
CUSTOM_PIPELINE = ("inline-conv-transpose-functions,fold-conv-transpose-weights,"
                   "resolve-conv-transpose-pads,materialize-conv-transpose-dilations,"
                   "conv-transpose-to-tf{form=custom-op}")
NP_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}
ONNX_DTYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16,
               "float64": TensorProto.DOUBLE}
SHORT = {"float32": "f32", "float16": "f16", "float64": "f64"}


def tool_path() -> str:
    path = os.environ.get("TFLAYOUT_OPT", os.path.join("build", "tflayout-opt"))
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def run_tool(src: str, dst: str, passes: Optional[str] = None, extra: Sequence[str] = ()):
    cmd = [tool_path(), src, "-o", dst, "-q"] + ([f"--passes={passes}"] if passes is not None else [])
    cmd += list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclasses.dataclass
class Config:
    idx: int
    rank: int
    batch: int
    c_in: int
    c_out: int
    group: int
    kernel: List[int]
    strides: List[int]
    dilations: List[int]
    in_spatial: List[int]
    output_padding: List[int]
    auto_pad: str = "NOTSET"          # NOTSET, SAME_UPPER, SAME_LOWER, VALID
    pads: Optional[List[int]] = None  # NOTSET only: [begin..., end...]
    output_shape: Optional[List[int]] = None  # NOTSET only
    bias: bool = False
    dtype: str = "float32"

    @property
    def id(self) -> str:
        j = lambda v: "x".join(map(str, v))
        pad = ("p" + j(self.pads)) if self.pads is not None else \
              ("os" + j(self.output_shape)) if self.output_shape else self.auto_pad.lower()
        g = "dw" if self.group == self.c_in and self.group > 1 else f"g{self.group}"
        return (f"{self.idx:03d}-{self.rank}d-{SHORT[self.dtype]}-n{self.batch}c{self.c_in}m{self.c_out}{g}"
                f"-in{j(self.in_spatial)}-k{j(self.kernel)}-s{j(self.strides)}-d{j(self.dilations)}"
                f"-{pad}-op{j(self.output_padding)}{'-b' if self.bias else ''}")

    def k_eff(self, i):
        return (self.kernel[i] - 1) * self.dilations[i] + 1

    def full(self, i):
        return (self.in_spatial[i] - 1) * self.strides[i] + self.k_eff(i)

    def negative_total(self) -> bool:
        """Whether ONNX's total padding is negative on some axis (output past the full result)."""
        if self.auto_pad not in ("SAME_UPPER", "SAME_LOWER") and not self.output_shape:
            return False
        out = self.output_shape or [self.in_spatial[i] * self.strides[i] for i in range(self.rank)]
        return any(self.full(i) + self.output_padding[i] < out[i] for i in range(self.rank))

    def attrs(self) -> dict:
        a = dict(kernel_shape=self.kernel, strides=self.strides, dilations=self.dilations,
                 group=self.group)
        if any(self.output_padding):
            a["output_padding"] = self.output_padding
        if self.auto_pad != "NOTSET":
            a["auto_pad"] = self.auto_pad
        if self.pads is not None:
            a["pads"] = self.pads
        if self.output_shape:
            a["output_shape"] = self.output_shape
        return a

    def explicit_pads(self) -> Tuple[List[int], List[int], List[int]]:
        """(pads_begin, pads_end, output_padding) as resolve-conv-transpose-pads writes them."""
        from tflayout.reference import resolve_padding
        return resolve_padding(self.in_spatial, self.kernel, self.strides, self.dilations,
                            self.output_padding, self.auto_pad, self.pads, self.output_shape)

    def make_arrays(self, seed: int):
        rng = np.random.default_rng(seed * 7919 + self.idx)
        dt = NP_DTYPES[self.dtype]
        x = rng.standard_normal([self.batch, self.c_in] + self.in_spatial).astype(dt)
        w = rng.standard_normal([self.c_in, self.c_out // self.group] + self.kernel).astype(dt)
        b = rng.standard_normal([self.c_out]).astype(dt) if self.bias else None
        return x, w, b


def _choice(rng, items, p=None):
    return items[rng.choice(len(items), p=p)]


def generate_configs(count: int, seed: int, dtypes=("float32", "float16", "float64"),
                     dtype_p=(0.6, 0.2, 0.2), start_idx: int = 0,
                     auto_pads=("NOTSET", "OUTPUT_SHAPE", "SAME_UPPER", "SAME_LOWER", "VALID"),
                     auto_pad_p=(0.46, 0.12, 0.15, 0.15, 0.12), wide_every: int = 40) -> List[Config]:
    """Seeded ConvTranspose configurations covering the matrix in the issue.

    Ranks 1/2/3; channels 1, odd, even and (every ``wide_every``-th config) 64/65 with a small
    spatial size; kernels 1-5 (1-3 for 3-D); strides 1-3; dilations 1-3; asymmetric pads;
    output_padding < stride; all auto_pad values and output_shape; group 1, 2 and
    depthwise; bias or not; float32/float16/float64.
    """
    rng = np.random.default_rng(seed)
    out: List[Config] = []
    idx = start_idx
    while len(out) < count:
        rank = int(_choice(rng, [1, 2, 3], p=[0.3, 0.45, 0.25]))
        wide = wide_every and (idx % wide_every == wide_every - 1)
        gkind = _choice(rng, ["g1", "g2", "dw"], p=[0.55, 0.22, 0.23])
        chans = [1, 1, 2, 3, 4, 5, 7, 8]
        if gkind == "g1":
            group = 1
            c_in, c_out = int(_choice(rng, chans)), int(_choice(rng, chans))
            if wide:
                c_in, c_out = int(_choice(rng, [64, 65, 3])), int(_choice(rng, [64, 1, 67]))
        elif gkind == "g2":
            group = 2
            c_in, c_out = 2 * int(_choice(rng, [1, 2, 3])), 2 * int(_choice(rng, [1, 2, 3]))
            if wide:
                c_in, c_out = 64, 2 * int(_choice(rng, [1, 32]))
        else:
            c_in = int(_choice(rng, [2, 3, 4, 6])) if not wide else 64
            group = c_in
            c_out = c_in * int(_choice(rng, [1, 1, 2]))
        kmax = 5 if rank < 3 else 3
        smax_in = {1: 9, 2: 6, 3: 4}[rank] if not wide else {1: 5, 2: 3, 3: 2}[rank]
        kernel = [int(rng.integers(1, kmax + 1)) for _ in range(rank)]
        strides = [int(rng.integers(1, 4)) for _ in range(rank)]
        dil_on = rng.random() < 0.35
        dilations = [int(rng.integers(1, 4)) if dil_on else 1 for _ in range(rank)]
        in_spatial = [int(rng.integers(1, smax_in + 1)) for _ in range(rank)]
        if rng.random() < 0.35:
            # ONNX/PyTorch allow output_padding < max(stride, dilation), but ONNX Runtime 1.17.3
            # returns uninitialized memory when output_padding >= stride (see
            # test_equivalence_tf.py::test_ort_output_padding_ge_stride), so: < stride.
            output_padding = [int(rng.integers(0, s)) for s in strides]
        else:
            output_padding = [0] * rank
        mode = _choice(rng, list(auto_pads), p=list(auto_pad_p))
        cfg = Config(idx=idx, rank=rank, batch=2 if rng.random() < 0.15 else 1, c_in=c_in,
                     c_out=c_out, group=group, kernel=kernel, strides=strides,
                     dilations=dilations, in_spatial=in_spatial, output_padding=output_padding,
                     bias=bool(rng.random() < 0.5), dtype=str(_choice(rng, list(dtypes), p=list(dtype_p))))
        if mode == "NOTSET":
            begin, end = [], []
            for i in range(rank):
                room = cfg.full(i) + output_padding[i] - 1      # keep the output >= 1
                cap = min(cfg.k_eff(i) - 1, room)
                b_ = int(rng.integers(0, cap + 1))
                e_ = int(rng.integers(0, min(cfg.k_eff(i) - 1, room - b_) + 1))
                begin.append(b_)
                end.append(e_)
            cfg.pads = begin + end
        elif mode == "OUTPUT_SHAPE":
            shape = []
            for i in range(rank):
                top = cfg.full(i) + output_padding[i]
                total = int(rng.integers(0, min(cfg.k_eff(i) - 1 + output_padding[i], top - 1) + 1))
                shape.append(top - total)
            cfg.output_shape = shape
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            cfg.auto_pad = mode
            if any(output_padding[i] + cfg.k_eff(i) - strides[i] < 0 for i in range(rank)):
                continue  # negative total padding: not a valid SAME configuration; draw again
        else:
            cfg.auto_pad = "VALID"
        out.append(cfg)
        idx += 1
    return out


def generate_negative_configs(count: int, seed: int, start_idx: int = 0,
                              dtypes=("float32", "float16", "float64")) -> List[Config]:
    """Seeded configurations whose total padding is negative on at least one axis.

    Half SAME_UPPER/SAME_LOWER with a stride above (k-1)*d + 1 + output_padding on the first
    axis (ONNX Runtime clamps to the full result); half output_shape past the full result on
    the first axis by 1 .. stride-1-output_padding (beyond that ONNX Runtime 1.17.3 is wrong;
    see test_resolve_pads.py), under NOTSET, SAME_UPPER or SAME_LOWER, other axes' output sizes
    above or below their full size. Ranks 1/2/3, group 1/2/depthwise, dilations 1-2, bias or
    not, the dtypes in turn.
    """
    rng = np.random.default_rng(seed)
    out: List[Config] = []
    idx = start_idx
    while len(out) < count:
        k_ = len(out)
        rank = 1 + k_ % 3
        dtype = dtypes[(k_ // 3) % len(dtypes)]
        same = (k_ // 9) % 2 == 0
        gkind = ("g1", "g2", "dw")[(k_ // 18) % 3]
        if gkind == "g1":
            group, c_in, c_out = 1, int(_choice(rng, [1, 2, 3, 5])), int(_choice(rng, [1, 2, 4]))
        elif gkind == "g2":
            group, c_in, c_out = 2, 2 * int(_choice(rng, [1, 2])), 2 * int(_choice(rng, [1, 3]))
        else:
            c_in = int(_choice(rng, [2, 3, 4]))
            group, c_out = c_in, c_in * int(_choice(rng, [1, 2]))
        smax_in = {1: 7, 2: 5, 3: 3}[rank]
        kernel = [int(rng.integers(1, 4)) for _ in range(rank)]
        strides = [int(rng.integers(1, 4)) for _ in range(rank)]
        dilations = [int(rng.integers(1, 3)) if rng.random() < 0.4 else 1 for _ in range(rank)]
        # the first axis: short kernel, long stride
        kernel[0] = int(_choice(rng, [1, 2, 2, 3]))
        dilations[0] = 2 if kernel[0] == 2 and rng.random() < 0.3 else 1
        keff0 = (kernel[0] - 1) * dilations[0] + 1
        strides[0] = keff0 + int(rng.integers(1, 4))
        output_padding = [int(rng.integers(0, s)) if rng.random() < 0.4 else 0 for s in strides]
        in_spatial = [int(rng.integers(1, smax_in + 1)) for _ in range(rank)]
        cfg = Config(idx=idx, rank=rank, batch=2 if rng.random() < 0.15 else 1, c_in=c_in,
                     c_out=c_out, group=group, kernel=kernel, strides=strides,
                     dilations=dilations, in_spatial=in_spatial, output_padding=output_padding,
                     bias=bool(rng.random() < 0.6), dtype=dtype)
        if same:
            output_padding[0] = int(rng.integers(0, strides[0] - keff0))  # total < 0 on axis 0
            cfg.auto_pad = _choice(rng, ["SAME_UPPER", "SAME_LOWER"])
        else:
            output_padding[0] = int(rng.integers(0, strides[0] - 1))
            cfg.auto_pad = _choice(rng, ["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER"])
            shape = []
            for i in range(rank):
                top = cfg.full(i) + output_padding[i]
                room = strides[i] - 1 - output_padding[i]      # extension ORT computes right
                if i == 0:
                    shape.append(top + int(rng.integers(1, room + 1)))
                else:
                    low = -min(cfg.k_eff(i) - 1 + output_padding[i], top - 1)
                    shape.append(top + int(rng.integers(low, max(room, 0) + 1)))
            cfg.output_shape = shape
        out.append(cfg)
        idx += 1
    return out


def build_batch_model(configs: Sequence[Config], seed: int, opset: int = 13):
    """(model, feeds, weights, biases): one independent ConvTranspose per config."""
    nodes, inputs, outputs, inits, feeds, weights, biases = [], [], [], [], {}, {}, {}
    for cfg in configs:
        i = cfg.idx
        x, w, b = cfg.make_arrays(seed)
        et = ONNX_DTYPES[cfg.dtype]
        ins = [f"x{i}", f"W{i}"]
        inits.append(numpy_helper.from_array(w, f"W{i}"))
        weights[i] = w
        if b is not None:
            ins.append(f"B{i}")
            inits.append(numpy_helper.from_array(b, f"B{i}"))
        biases[i] = b
        nodes.append(helper.make_node("ConvTranspose", ins, [f"y{i}"], name=f"ct{i}", **cfg.attrs()))
        inputs.append(helper.make_tensor_value_info(f"x{i}", et, list(x.shape)))
        # symbolic dims: onnx.checker (run by onnx-tf's prepare) wants a shape field
        outputs.append(helper.make_tensor_value_info(
            f"y{i}", et, [f"y{i}_d{k}" for k in range(cfg.rank + 2)]))
        feeds[f"x{i}"] = x
    graph = helper.make_graph(nodes, "ct_batch", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7,
                              producer_name="tflayout-tests")
    return model, feeds, weights, biases


def cast_model(model, to: int = TensorProto.FLOAT):
    """A copy with every float tensor (inputs, outputs, initializers) cast to ``to``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    np_to = onnx.helper.tensor_dtype_to_np_dtype(to)
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
    for vi in list(m.graph.input) + list(m.graph.output):
        if vi.type.tensor_type.elem_type in floats:
            vi.type.tensor_type.elem_type = to
    for k, init in enumerate(m.graph.initializer):
        if init.data_type in floats:
            arr = numpy_helper.to_array(init).astype(np_to)
            m.graph.initializer[k].CopyFrom(numpy_helper.from_array(arr, init.name))
    return m


def ort_run(model, feeds: Dict[str, np.ndarray]):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


@contextlib.contextmanager
def contained_node_errors(errors: Dict[str, str]):
    """Inside: an onnx-tf handler that raises marks its node's outputs as empty tensors and
    records ``errors[node output] = 'Type: message'`` (first line)."""
    from onnx_tf.backend import TensorflowBackend
    import tensorflow as tf

    original = TensorflowBackend.__dict__["_onnx_node_to_tensorflow_op"]

    def wrapped(cls, node, tensor_dict, handlers=None, opset=None, strict=True):
        try:
            return original.__func__(cls, node, tensor_dict, handlers=handlers, opset=opset,
                                     strict=strict)
        except Exception as e:  # noqa: BLE001 - this is what we measure
            msg = _first_line(e)
            for out in node.outputs:
                errors[out] = msg
            x = tensor_dict.get(node.inputs[0]) if node.inputs else None
            dtype = x.dtype if x is not None else tf.float32
            return [tf.zeros([0], dtype=dtype) for _ in node.outputs]

    TensorflowBackend._onnx_node_to_tensorflow_op = classmethod(wrapped)
    try:
        yield errors
    finally:
        TensorflowBackend._onnx_node_to_tensorflow_op = original


def run_onnx_tf_contained(model, feeds: Dict[str, np.ndarray]):
    """({output: array}, {output: error}) from onnx-tf prepare+run with per-node containment.
    If the run itself fails (not a handler), every output is recorded with that error."""
    import onnx_tf.backend
    graph_inputs = {i.name for i in model.graph.input}
    feeds = {k: v for k, v in feeds.items() if k in graph_inputs}
    errors: Dict[str, str] = {}
    names = [o.name for o in model.graph.output]
    try:
        with contained_node_errors(errors):
            rep = onnx_tf.backend.prepare(model, logging_level="ERROR")
            outs = rep.run(feeds)
        results = {n: np.asarray(outs[n]) for n in names if n not in errors}
    except Exception as e:  # noqa: BLE001
        if len(names) > 1:
            # a failure at run time (not in a handler): split the batch to find the culprits
            half = len(names) // 2
            r1, e1 = run_onnx_tf_contained(submodel(model, names[:half]), feeds)
            r2, e2 = run_onnx_tf_contained(submodel(model, names[half:]), feeds)
            return {**r1, **r2}, {**e1, **e2}
        msg = _first_line(e)
        return {}, {n: errors.get(n, msg) for n in names}
    return results, errors


def _first_line(e: Exception) -> str:
    """'Type: message' with TF's traceback noise removed (the last meaningful line)."""
    lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
    lines = [l for l in lines if not l.startswith(("[[", "File ")) and "[[{{node" not in l] or lines
    return f"{type(e).__name__}: {(lines[-1] if lines else '')[:200]}"


def submodel(model, outputs: Sequence[str]):
    """A copy keeping only what the given graph outputs need (nodes, inputs, initializers)."""
    producers = {}
    for node in model.graph.node:
        for o in node.output:
            producers[o] = node
    needed, keep, stack = set(), [], list(outputs)
    while stack:
        v = stack.pop()
        if v in needed:
            continue
        needed.add(v)
        node = producers.get(v)
        if node is not None and id(node) not in {id(k) for k in keep}:
            keep.append(node)
            stack.extend(i for i in node.input if i)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.node[:]
    m.graph.node.extend([n for n in model.graph.node if any(n is k for k in keep)])
    for field in ("input", "output", "initializer"):
        items = [x for x in getattr(model.graph, field) if x.name in needed]
        del getattr(m.graph, field)[:]
        getattr(m.graph, field).extend(items)
    return m
