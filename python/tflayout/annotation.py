"""Reading the annotation that tflayout-opt stores in ``metadata_props["tflayout.annotation"]``.

The JSON is ``tflayout.Annotation`` (proto/tflayout.proto) with the proto field names kept and,
since schema_version 2, every number a JSON number. Schema 1 (the proto3 JSON mapping) wrote
int64 values as strings ("2"); :func:`read_annotation` turns those into ``int`` too, so callers
get the same values from either.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from . import ANNOTATION_KEY

_INT_FIELDS = {"perm", "onnx_dims", "tf_dims", "strides", "dilations", "pads_begin", "pads_end",
               "output_padding", "group", "output_shape", "data_type", "schema_version"}


def _ints(obj: Any, key: Optional[str] = None) -> Any:
    if isinstance(obj, dict):
        return {k: _ints(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_ints(v, key) for v in obj]
    if key in _INT_FIELDS and isinstance(obj, str):
        return int(obj)
    return obj


def parse_annotation(text: str) -> Dict[str, Any]:
    """Parses the annotation JSON (schema 1 or 2), with integer fields as Python ints and
    defaults filled in."""
    ann = _ints(json.loads(text))
    ann.setdefault("tensors", [])
    ann.setdefault("remarks", [])
    for entry in ann["tensors"]:
        tf = entry.setdefault("tf", {})
        n = len(entry.get("tf_dims", [])) - 2
        for key, default in (("strides", 1), ("dilations", 1), ("pads_begin", 0),
                             ("pads_end", 0), ("output_padding", 0)):
            if not tf.get(key):
                tf[key] = [default] * max(n, 0)
        tf.setdefault("group", 1)
        tf.setdefault("pads_resolved", False)
        entry.setdefault("graph", "")
    return ann


def read_annotation(model) -> Optional[Dict[str, Any]]:
    """The model's annotation (see :func:`parse_annotation`), or None when it has none."""
    for prop in model.metadata_props:
        if prop.key == ANNOTATION_KEY:
            return parse_annotation(prop.value)
    return None


def entries_by_node(model) -> Dict[str, List[Dict[str, Any]]]:
    """Annotation entries keyed by node name."""
    ann = read_annotation(model) or {"tensors": []}
    out: Dict[str, List[Dict[str, Any]]] = {}
    for entry in ann["tensors"]:
        out.setdefault(entry.get("node", ""), []).append(entry)
    return out
