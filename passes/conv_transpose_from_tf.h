// conv-transpose-from-tf: Undo conv-transpose-to-tf: weights back to ONNX layout (bit for bit),
// custom ops back to ConvTranspose
//
// Before (as conv-transpose-to-tf left it, per annotation entry):
//     W__tf (TF layout), W = Transpose(W__tf) and/or Y = tflayout.ConvTransposeTF(X, W__tf, B)
//     (conv-to-tf: Y = tflayout.ConvTF(X, W__tf, B); gemm-to-tf: Gemm(A, B__tf) with transB=0)
// After:
//     W (ONNX layout, the original bytes) and Y = ConvTranspose(X, W, B) (Conv, Gemm transB=1)
//
// Conditions: the annotation names the tensor, and its dims equal the recorded tf_dims. The
// compensate form comes back byte for byte; a custom-op node comes back as a ConvTranspose
// with explicit pads (the same math as the original node); a tflayout.ConvTF node comes back
// as the very Conv it was (conv-to-tf keeps its attributes as written). Entries are removed
// from the annotation as they are undone.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateConvTransposeFromTfPass();

}  // namespace tflayout
