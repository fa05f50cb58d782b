// conv-transpose-to-tf: Store constant ConvTranspose weights in TensorFlow layout (k..., M/group,
// C) and annotate the graph
//
// Before (ONNX layout, W: (C, M/g, k1..kn)):
//     W = initializer (or Constant)           Y = ConvTranspose(X, W, B)
// After, form=compensate (default; still valid ONNX, same results everywhere):
//     W__tf = initializer in TF layout (k1..kn, M/g, C)
//     W = Transpose(W__tf, perm=[r-1, r-2, 0, ..., r-3])
//     Y = ConvTranspose(X, W, B)                          (unchanged)
// After, form=custom-op (for onnx-tf with our handler; no transpose at all):
//     W__tf = initializer in TF layout
//     Y = tflayout.ConvTransposeTF(X, W__tf, B)  strides, dilations, pads (resolved begin+end),
//                                                output_padding, group, kernel_shape explicit
//     W = Transpose(W__tf, ...) only if something else still reads W in ONNX layout.
//
// Conditions: ai.onnx ConvTranspose, any opset, in any graph (subgraphs included); W an
// initializer or Constant output; a weight read by several nodes is rewritten once.
// Initializers listed as graph inputs: below IR 4 they are constants (the spec lists every
// initializer as an input) and are rewritten, the TF-layout initializer taking the old input
// entry's place with its TF dims; from IR 4 on they are overridable defaults, left alone with
// a remark unless {initializers-as-inputs=constant}, which rewrites them and drops the input
// entry. Every name created is unique and a valid TensorFlow scope name (ScopeSafeName).
// Statistics: conv-transpose-weights (distinct weights ConvTranspose nodes read) =
// weights-rewritten + weights-already-tf + weights-left-alone (each with a remark). A
// ConvTranspose inside a model-local function the graph calls counts once per call that runs
// it, as left alone, with a remark naming the function and the node (run
// inline-conv-transpose-functions first: it is first in every target pipeline). A node whose pads need shapes that are unknown stays a standard
// ConvTranspose in custom-op form (with a remark). The annotation records every rewrite, which
// makes a second run a no-op.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateConvTransposeToTfPass();

}  // namespace tflayout
