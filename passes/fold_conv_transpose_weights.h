// fold-conv-transpose-weights: Fold constant subgraphs that compute ConvTranspose weights
// (weight_norm, spectral_norm exports) into initializers
//
// Before (nn.utils.weight_norm exported with do_constant_folding=False):
//     n = ReduceL2(v, axes=[1,2], keepdims=1)     v, g: initializers
//     W = Mul(Div(v, n), g)                      Y = ConvTranspose(X, W, B)
// After:
//     W = initializer holding the computed value  Y = ConvTranspose(X, W, B)
//     (nodes and initializers nothing else reads are removed)
//
// spectral_norm exports (Transpose, Unsqueeze, Concat, Reshape, MatMul, Div) fold the same way.
//
// Folded ops (ai.onnx, evaluated with ONNX semantics for the model's opset; float types are
// computed in double and rounded once to the output type, integers exactly up to 2^53):
//   Constant, Identity, Cast, Add, Sub, Mul, Div, Pow, Max, Min, Sqrt, Neg, Abs, Reciprocal,
//   Exp, Log, ReduceL2, ReduceSum, ReduceSumSquare, ReduceMean, ReduceMax, ReduceMin (axes as
//   attribute, or as input where the opset says so: ReduceSum from 13, the others from 18),
//   Reshape (shape attribute before opset 5), Unsqueeze and Squeeze (axes input from 13),
//   Transpose, MatMul, Concat, Shape (start/end from 15), Gather, ConstantOfShape,
//   DequantizeLinear (per-tensor and per-axis).
// Element types: float32, float64, float16, bfloat16, int8/16/32/64, uint8/16/32, bool.
//
// Conditions: only subgraphs that end in the W input of an ai.onnx ConvTranspose, contain at
// least one op other than Identity, Cast and DequantizeLinear (conv-transpose-to-tf handles
// those without materializing the float value), and whose leaves are all constants (an
// initializer, a Constant; an initializer listed as a graph input below IR 4, or at any IR
// with {initializers-as-inputs=constant}). A subgraph with an op outside the list, a node with
// subgraphs, or a value of another type is left alone with a remark; one that reads a
// run-time value is left to conv-transpose-to-tf's remark. The folded initializer lives in the
// graph of the weight's producer (listed as an input below IR 4) and keeps the weight's name.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateFoldConvTransposeWeightsPass();

}  // namespace tflayout
