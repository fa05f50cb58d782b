// materialize-conv-transpose-dilations: Rewrite dilated ConvTranspose kernels into equivalent
// zero-inserted kernels of size (k-1)*d+1 (TensorFlow's CPU kernels reject dilation)
//
// Before:  Y = ConvTranspose(X, W) dilations=[d1,d2]       W: (C, M/g, k1, k2)
// After:   Y = ConvTranspose(X, W_d) dilations=[1,1]       W_d: (C, M/g, (k1-1)*d1+1, ...)
//          where W_d holds W's taps at multiples of d and zeros between them.
//
// Why: TensorFlow's CPU kernels reject dilated transposed convolutions, Keras rejects dilation
// with stride > 1, and onnx-tf raises. The output is identical: every zero tap adds 0.
//
// Conditions: ai.onnx ConvTranspose with a constant W (initializer or Constant; an
// initializer listed as a graph input only below IR 4, where its entry gets the new dims). W read by anything else is left as it is and the node gets a new weight.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateMaterializeConvTransposeDilationsPass();

}  // namespace tflayout
