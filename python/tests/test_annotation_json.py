"""The annotation as plain JSON: a stock JSON parser gets numbers as numbers (schema 2), and
annotations written by schema 1 (int64 values as strings) read to the same values."""
import json
import os

import onnx

import ct_harness as H
from tflayout import ANNOTATION_KEY
from tflayout.annotation import parse_annotation, read_annotation

# What schema 1 wrote for models/dcgan_generator.onnx's first weight (protobuf's JSON mapping).
SCHEMA_1 = (
    '{"schema_version":1,"tool_version":"0.1.0","tensors":[{"tensor":"main.0.weight__tf",'
    '"source":"main.0.weight","node":"/main/main.0/ConvTranspose","perm":["2","3","1","0"],'
    '"onnx_dims":["16","32","4","4"],"tf_dims":["4","4","32","16"],"form":"compensate",'
    '"tf":{"strides":["1","1"],"dilations":["1","1"],"pads_begin":["0","0"],'
    '"pads_end":["0","0"],"output_padding":["0","0"],"group":"1","pads_resolved":true},'
    '"storage":"initializer","data_type":1}]}')


def _raw(model):
    return [p.value for p in model.metadata_props if p.key == ANNOTATION_KEY][0]


def test_numbers_are_json_numbers(tool, tmp_path):
    src = os.path.join(H.REPO, "models", "dcgan_generator.onnx")
    dst = str(tmp_path / "out.onnx")
    H.run_tool(src, dst)
    ann = json.loads(_raw(onnx.load(dst)))
    assert ann["schema_version"] == 3
    entry = ann["tensors"][0]
    for key in ("perm", "onnx_dims", "tf_dims"):
        assert all(type(v) is int for v in entry[key]), (key, entry[key])
    for key in ("strides", "dilations", "pads_begin", "pads_end", "output_padding"):
        assert all(type(v) is int for v in entry["tf"][key]), (key, entry["tf"])
    assert type(entry["tf"]["group"]) is int and type(entry["data_type"]) is int
    assert entry["perm"] == [2, 3, 1, 0]
    # the Python reader gives the same as the plain parser
    assert parse_annotation(_raw(onnx.load(dst)))["tensors"][0]["perm"] == entry["perm"]


def test_schema_1_reads_to_the_same_values():
    old = parse_annotation(SCHEMA_1)
    entry = old["tensors"][0]
    assert old["schema_version"] == 1
    assert entry["perm"] == [2, 3, 1, 0] and entry["onnx_dims"] == [16, 32, 4, 4]
    assert entry["tf"]["group"] == 1 and entry["tf"]["pads_end"] == [0, 0]


def test_tool_recognizes_a_schema_1_annotation(tool, tmp_path):
    """A model processed by schema 1: the tool reads its annotation (the weight is not
    rewritten twice) and a rerun writes it back as schema 2 with the same content."""
    src = os.path.join(H.REPO, "models", "dcgan_generator.onnx")
    once = str(tmp_path / "once.onnx")
    H.run_tool(src, once)
    model = onnx.load(once)
    new = json.loads(_raw(model))

    def stringify(obj, key=None):
        if isinstance(obj, dict):
            return {k: stringify(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [stringify(v, key) for v in obj]
        if type(obj) is int and key not in ("schema_version", "data_type"):
            return str(obj)  # int64 fields, as schema 1 wrote them
        return obj
    old = stringify(new)
    old["schema_version"] = 1
    for p in model.metadata_props:
        if p.key == ANNOTATION_KEY:
            p.value = json.dumps(old, separators=(",", ":"))
    old_path, again = str(tmp_path / "old.onnx"), str(tmp_path / "again.onnx")
    onnx.save(model, old_path)
    H.run_tool(old_path, again)
    out = onnx.load(again)
    assert [t.raw_data for t in out.graph.initializer] == \
        [t.raw_data for t in model.graph.initializer]
    assert [n for n in out.graph.node] == [n for n in model.graph.node]
    assert read_annotation(out)["tensors"] == read_annotation(onnx.load(once))["tensors"]
