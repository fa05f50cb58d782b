"""Runs the equivalence matrix: ORT reference vs (a) tf.nn from the annotation, (b) onnx-tf with
our handler on the custom-op form, (c) stock onnx-tf on the compensate form, plus (o) stock
onnx-tf on the original model (baseline, for docs/results/equivalence.md)."""
from __future__ import annotations

import os
import re
import tempfile
import time
from typing import Dict, List

import numpy as np
import onnx
from onnx import numpy_helper

import ct_harness as H

# Tolerances: max |got - ref| <= TOL[dtype] * max(|ref|) (the output's scale).
TOL = {"float32": 1e-4, "float16": 1e-2, "float64": 1e-9}


def _err(got, ref):
    if got is None:
        return None
    if got.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref.astype(np.float64)))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) / scale


def _classify(got, ref, dtype, error=None):
    if error is not None:
        return {"status": "reject", "error": error}
    if got is None:
        return {"status": "reject", "error": "no output"}
    if got.shape != ref.shape:
        return {"status": "wrong", "error": f"shape {got.shape} != {ref.shape}", "rel_err": None}
    e = _err(got, ref)
    ok = bool(np.isfinite(e) and e <= TOL[dtype])
    return {"status": "pass" if ok else "wrong", "rel_err": e}


def references(configs, model, feeds, weights, biases):
    """Per config idx: reference output (float64 numpy ref for f64; ORT on a float32 copy for f16;
    ORT as is for f32)."""
    refs = {}
    dts = {c.dtype for c in configs}
    assert len(dts) == 1
    dt = dts.pop()
    if dt == "float32":
        out = H.ort_run(model, feeds)
        return {c.idx: out[f"y{c.idx}"] for c in configs}
    if dt == "float16":
        f32 = H.cast_model(model)
        out = H.ort_run(f32, {k: v.astype(np.float32) for k, v in feeds.items()})
        return {c.idx: out[f"y{c.idx}"] for c in configs}
    from tflayout.reference import conv_transpose
    for c in configs:
        pb, pe, op = c.explicit_pads()
        refs[c.idx] = conv_transpose(feeds[f"x{c.idx}"], weights[c.idx], biases[c.idx],
                                     strides=c.strides, dilations=c.dilations, pads_begin=pb,
                                     pads_end=pe, output_padding=op, group=c.group)
    return refs


def run_batch(configs, seed, workdir, paths=("a", "b", "c", "o")) -> Dict[int, dict]:
    from tflayout.annotation import read_annotation
    from tflayout.tf_reference import conv_transpose_from_annotation

    model, feeds, weights, biases = H.build_batch_model(configs, seed)
    tag = f"b{configs[0].idx}"
    src = os.path.join(workdir, tag + ".onnx")
    onnx.save(model, src)
    comp, cust = src[:-5] + ".comp.onnx", src[:-5] + ".cust.onnx"
    H.run_tool(src, comp)
    H.run_tool(src, cust, H.CUSTOM_PIPELINE)
    m_comp, m_cust = onnx.load(comp), onnx.load(cust)
    refs = references(configs, model, feeds, weights, biases)
    res = {c.idx: {"id": c.id, "dtype": c.dtype, "rank": c.rank, "group": c.group,
                   "auto_pad": "OUTPUT_SHAPE" if c.output_shape else c.auto_pad,
                   "dilated": any(d > 1 for d in c.dilations),
                   "negative_total": c.negative_total()} for c in configs}
    timings = {}
    if "a" in paths:
        t = time.time()
        ann = read_annotation(m_comp) or {"tensors": []}
        by_node = {e["node"]: e for e in ann["tensors"]}
        inits = {i.name: i for i in m_comp.graph.initializer}
        for c in configs:
            e = by_node.get(f"ct{c.idx}")
            try:
                if e is None:
                    raise RuntimeError("no annotation entry for the node")
                w_tf = numpy_helper.to_array(inits[e["tensor"]])
                got = conv_transpose_from_annotation(e, w_tf, biases[c.idx], feeds[f"x{c.idx}"])
                res[c.idx]["a"] = _classify(got, refs[c.idx], c.dtype)
            except Exception as ex:  # noqa: BLE001
                res[c.idx]["a"] = _classify(None, refs[c.idx], c.dtype, f"{type(ex).__name__}: {ex}")
        timings["a"] = time.time() - t
    for path, m in (("b", m_cust), ("c", m_comp), ("o", model)):
        if path not in paths:
            continue
        t = time.time()
        if path == "b":
            import tflayout.onnx_tf_handler  # noqa: F401  (registers the handler)
        used = {i.name for i in m.graph.input}
        outs, errs = H.run_onnx_tf_contained(m, {k: v for k, v in feeds.items() if k in used})
        for c in configs:
            y = f"y{c.idx}"
            res[c.idx][path] = _classify(outs.get(y), refs[c.idx], c.dtype, errs.get(y))
        timings[path] = time.time() - t
    return res, timings


def run_matrix(configs, seed, batch_size=60, paths=("a", "b", "c", "o"), log=print):
    results: Dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tflayout-eq-") as workdir:
        by_dtype: Dict[str, List] = {}
        for c in configs:
            by_dtype.setdefault(c.dtype, []).append(c)
        for dt, cs in sorted(by_dtype.items()):
            for k in range(0, len(cs), batch_size):
                batch = cs[k:k + batch_size]
                r, timings = run_batch(batch, seed, workdir, paths)
                results.update(r)
                log(f"batch {dt} {k}..{k + len(batch)}: " +
                    ", ".join(f"{p} {t:.1f}s" for p, t in timings.items()))
    return results


def summarize(results: Dict[int, dict], paths=("a", "b", "c", "o")) -> dict:
    summary = {"configurations": len(results), "tolerance_rel_to_max_abs_ref": TOL, "paths": {}}
    names = {"a": "tflayout annotation + tf.nn (path a)",
             "b": "onnx-tf + tflayout handler, custom-op form (path b)",
             "c": "stock onnx-tf, compensate form (path c)",
             "o": "stock onnx-tf, original model (baseline)"}
    for p in paths:
        rows = [r[p] for r in results.values() if p in r]
        cnt = {s: sum(1 for x in rows if x["status"] == s) for s in ("pass", "reject", "wrong")}
        maxerr = {}
        for r in results.values():
            if p in r and r[p].get("rel_err") is not None and np.isfinite(r[p]["rel_err"]):
                if r[p]["status"] == "pass":
                    maxerr[r["dtype"]] = max(maxerr.get(r["dtype"], 0.0), r[p]["rel_err"])
        by_dtype = {}
        for r in results.values():
            if p in r:
                d = by_dtype.setdefault(r["dtype"], {"pass": 0, "reject": 0, "wrong": 0})
                d[r[p]["status"]] += 1
        reasons = {}
        for x in rows:
            if x["status"] == "reject":
                key = re.sub(r"_\d+\}\}", "}}", x["error"])
                key = re.sub(r"(actual|computed|input_size|effective_filter_size|stride|negative)"
                             r"(:| =) -?\d+", r"\1\2 N", key)
                key = re.sub(r"T=DT_[A-Z]+", "T=DT_*", key)[:150]
                reasons[key] = reasons.get(key, 0) + 1
        summary["paths"][p] = {"name": names[p], "counts": cnt, "by_dtype": by_dtype,
                               "max_rel_err_of_passing_by_dtype": maxerr,
                               "reject_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}
    cats = {}
    for r in results.values():
        for key in ("rank", "auto_pad", "dtype"):
            cats.setdefault(f"{key}={r[key]}", []).append(r)
        cats.setdefault("group=1" if r["group"] == 1 else "group>1", []).append(r)
        cats.setdefault("dilated" if r["dilated"] else "undilated", []).append(r)
        if r.get("negative_total"):
            cats.setdefault(f"total padding < 0, {r['auto_pad']}", []).append(r)
    summary["by_category"] = {
        k: {"configurations": len(v),
            **{p: {s: sum(1 for r in v if p in r and r[p]["status"] == s)
                   for s in ("pass", "reject", "wrong")} for p in paths}}
        for k, v in sorted(cats.items())}
    return summary
