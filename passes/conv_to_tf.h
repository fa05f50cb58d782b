// conv-to-tf: Store constant Conv weights in TensorFlow layout (k..., C/group, M) behind a Transpose
//
// Before (ONNX layout, W: (M, C/g, k1..kn), n = 1, 2 or 3; grouped and depthwise alike):
//     W = initializer (or Constant)           Y = Conv(X, W, B)
// After (compensate form: still valid ONNX, same results in every runtime):
//     W__tf = initializer in TF layout (k1..kn, C/g, M)
//     W = Transpose(W__tf, perm=[r-1, r-2, 0, ..., r-3])
//     Y = Conv(X, W, B)                                    (unchanged)
// TensorFlow's tf.nn.convolution filter is exactly W__tf; a depthwise Conv's (group = C,
// M = C * multiplier) is tf.nn.depthwise_conv2d's (k1, k2, C, multiplier) filter reshaped:
// (k1, k2, 1, C * multiplier) has the same element order.
//
// Conditions: ai.onnx Conv in any graph; W an initializer or Constant output of rank >= 3 read
// only by Conv nodes. Initializers listed as graph inputs follow conv-transpose-to-tf's rule
// (constants below IR 4; from IR 4 left alone with a remark unless
// {initializers-as-inputs=constant}). Weights computed by other nodes are left alone with a
// remark. The annotation records every rewrite (op_type "Conv"), which makes a second run a
// no-op and lets conv-transpose-from-tf restore the weight bit for bit.
// Statistics: conv-weights = weights-rewritten + weights-already-tf + weights-left-alone.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateConvToTfPass();

}  // namespace tflayout
