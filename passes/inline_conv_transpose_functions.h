// inline-conv-transpose-functions: Inline calls of model-local functions whose body computes a
// ConvTranspose, so that the passes after it see the weight
//
// Before (torch.onnx.export(..., export_modules_as_functions={Up}), opset >= 15):
//     graph:      Y = __main__.Up(X, a.ct.weight, a.ct.bias)     a.ct.weight: initializer
//     function __main__.Up(x, w, b) { t = ConvTranspose(x, w, b); y = Relu(t) }
// After:
//     graph:      a/Up/t = ConvTranspose(X, a.ct.weight, a.ct.bias)   node "a/Up/ConvTranspose_0"
//                 Y = Relu(a/Up/t)
//     (ModelProto.functions no longer holds Up when nothing else calls it)
//
// Why: inside a function body the weight is a formal input, bound only at the call site; no
// pass can store it in TF layout there (a second call may bind another weight).
//
// Conditions: calls in the main graph and its subgraphs (calls inside other function bodies
// are inlined once their caller is); the callee's body has an ai.onnx ConvTranspose,
// directly, in a subgraph of its body or through nested local calls (inlined round after
// round). Functions without one are left alone. Inputs and outputs are bound to the call's
// names (an omitted optional input stays omitted); every other value of the body, nested
// subgraphs included, gets a fresh unique name "<call node name>/<body name>" and every node
// "<call node name>/<body node name>", made valid TensorFlow scope names (GraphView::
// UniqueName). Attribute references (ref_attr_name) take the call's attribute, else the
// function's default (attribute_proto, IR >= 9), else the attribute is dropped. The
// function's opset_import entries for the domains its body uses are added to the model's; a
// domain imported at another version than the model's leaves the call as it is, with a
// remark naming the function and the domain (so do recursive functions and calls with more
// inputs or outputs than the function declares). Functions no longer reached from the graph
// after inlining are removed from ModelProto.functions. Exact: the body is the function's
// definition, so ONNX Runtime computes the same values. A model whose inlining would create
// more than 2^20 nodes (functions calling functions several times per level), or nest
// subgraphs deeper than LoadOptions::max_graph_depth, fails the pass with an error, unchanged
// by it (the size is computed before anything is inlined).
// Statistics: calls-inlined, calls-left, functions-removed.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateInlineConvTransposeFunctionsPass();

}  // namespace tflayout
