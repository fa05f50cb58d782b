// resolve-conv-transpose-pads: auto_pad and output_shape become explicit begin/end pads.
//
// Before:  Y = ConvTranspose(X, W) auto_pad=SAME_LOWER strides=[2,2]       (X: 1x8x5x7)
//    or:   Y = ConvTranspose(X, W) output_shape=[10,14]
// After:   Y = ConvTranspose(X, W) pads=[b1,b2,e1,e2]                      (same output)
//
// Conditions: ai.onnx ConvTranspose whose input's spatial dims are known from ONNX shape
// inference. The rule (include/tflayout/conv_transpose.h) is the ONNX specification's, which current ONNX
// Runtime follows; python/tests/test_resolve_pads.py checks it against ONNX Runtime. A node
// whose dims are unknown, or whose output_shape would need negative pads, keeps its attributes
// and gets a remark in the annotation. auto_pad=VALID becomes pads of zero.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateResolveConvTransposePadsPass();

}  // namespace tflayout
