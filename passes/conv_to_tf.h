// conv-to-tf: Store constant Conv weights in TensorFlow layout (k..., C/group, M), behind a
// Transpose or read by tflayout.ConvTF
//
// Before (ONNX layout, W: (M, C/g, k1..kn), n = 1, 2 or 3; grouped and depthwise alike):
//     W = initializer (or Constant)           Y = Conv(X, W, B)
// After, form=compensate (default; still valid ONNX, same results in every runtime):
//     W__tf = initializer in TF layout (k1..kn, C/g, M)
//     W = Transpose(W__tf, perm=[r-1, r-2, 0, ..., r-3])
//     Y = Conv(X, W, B)                                    (unchanged)
// After, form=custom-op (for onnx-tf with tflayout.onnx_tf_handler; no Transpose at all):
//     W__tf = initializer in TF layout
//     Y = tflayout.ConvTF(X, W__tf, B)
// TensorFlow's tf.nn.convolution filter is exactly W__tf; a depthwise Conv's (group = C,
// M = C * multiplier) is tf.nn.depthwise_conv2d's (k1, k2, C, multiplier) filter reshaped:
// (k1, k2, 1, C * multiplier) has the same element order.
//
// tflayout.ConvTF's contract (domain "tflayout", opset 1; python/tflayout/onnx_tf_handler.py):
// inputs X (N, C, d1..dn), W in TF layout (k1..kn, C/group, M), optional B (M); output
// Y (N, M, o1..on) = ONNX Conv(X, W in ONNX layout, B). Its attributes are the Conv's as
// written, nothing resolved or added: strides, dilations, group, kernel_shape (when present:
// W's leading dims), pads ([begin..., end...]) and auto_pad (NOTSET, VALID, SAME_UPPER or
// SAME_LOWER, which the consumer resolves from X's shape as ONNX does). Keeping them as written
// is what lets conv-transpose-from-tf give back the very Conv node.
//
// Conditions: ai.onnx Conv in any graph; W an initializer or Constant output of rank >= 3 read
// only by Conv nodes (so the custom-op form never needs the ONNX-layout view). Initializers
// listed as graph inputs follow conv-transpose-to-tf's rule (constants below IR 4; from IR 4
// left alone with a remark unless {initializers-as-inputs=constant}). Weights computed by
// other nodes are left alone with a remark. The annotation records every rewrite (op_type
// "Conv", form "compensate" or "custom-op"), which makes a second run a no-op (a weight read by
// our Transpose or only by ConvTF nodes counts as already in TF layout) and lets
// conv-transpose-from-tf restore the weight bit for bit and ConvTF nodes to Conv.
// Statistics: conv-weights = weights-rewritten + weights-already-tf + weights-left-alone.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateConvToTfPass();

}  // namespace tflayout
