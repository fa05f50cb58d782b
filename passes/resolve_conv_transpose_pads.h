// resolve-conv-transpose-pads: Turn ConvTranspose auto_pad / output_shape into explicit begin/end
// pads where the input's spatial shape is known
//
// Before:  Y = ConvTranspose(X, W) auto_pad=SAME_LOWER strides=[2,2]       (X: 1x8x5x7)
//    or:   Y = ConvTranspose(X, W) output_shape=[10,14]
// After:   Y = ConvTranspose(X, W) pads=[b1,b2,e1,e2]                      (same output)
//
// Conditions: ai.onnx ConvTranspose whose input's spatial dims are known from ONNX shape
// inference. The rule (include/tflayout/conv_transpose.h) is the ONNX specification's where ONNX
// Runtime follows it and ONNX Runtime's where not; python/tests/test_resolve_pads.py checks it
// against ONNX Runtime. auto_pad=VALID becomes pads of zero. A node whose dims are unknown keeps
// its attributes and gets a remark in the annotation.
//
// Negative total padding (the requested output is larger than the full result
// stride*(in-1) + (k-1)*d + 1 + output_padding):
//   - output_shape past the full result: the extra positions come at the end and hold only the
//     bias, which is what output_padding means. Resolved: pads 0 on that axis and
//     output_padding grown by the excess.
//       Before: Y = ConvTranspose(X, W, B) output_shape=[10, 8] strides=[3, 2]  (X: 1x1x3x3, k 3)
//       After:  Y = ConvTranspose(X, W, B) pads=[0, 0, 0, 0] output_padding=[1, 1] strides=[3, 2]
//     Resolved pads are never negative: every consumer (this node, the custom op
//     tflayout.ConvTransposeTF, the annotation's tf block) reads the extension from
//     output_padding, which may reach the stride in the custom op and the annotation. A
//     standard node keeps output_shape (with a remark) when the grown output_padding would
//     reach the stride: ONNX requires output_padding < stride, and ONNX Runtime 1.17.3
//     miscomputes such output_shape nodes anyway (it reads past its column buffer).
//   - SAME_UPPER/SAME_LOWER with stride > (k-1)*d + 1 + output_padding: ONNX Runtime clamps
//     the total to 0, so the pads are 0 and the output is the full result (plus
//     output_padding), not in*stride as the spec's text says. We follow ONNX Runtime.
//
// Negative explicit pads (invalid ONNX: ONNX Runtime refuses to load them) are repaired where
// their meaning is known; tf2onnx writes them for Keras Conv{1,2,3}DTranspose layers whose
// output is larger than the full result (docs/tf2onnx.md):
//   - a negative end pad -p extends the output by p bias-only positions at the end: pad 0 and
//     output_padding + p.
//       Before: Y = ConvTranspose(X, W, B) pads=[0, 0, -1, -1] strides=[2, 2]
//       After:  Y = ConvTranspose(X, W, B) pads=[0, 0, 0, 0] output_padding=[1, 1] strides=[2, 2]
//     Where output_padding would reach the stride, the node gets the equivalent output_shape
//     form instead (kept, with a remark, as above), or an error when there is none.
//   - a negative begin pad: ONNX gives it no meaning. tf2onnx (producer_name "tf2onnx") halves
//     a negative total as it halves a positive one, while TensorFlow puts the whole extension
//     at the end, so in its models both pads of such an axis (<= 0) go to output_padding.
//       Before: pads=[-1, -1, -1, -1] strides=[3, 3]   After: pads=[0, 0, 0, 0] output_padding=[2, 2]
//     From any other producer, or beside a positive end pad, it is an error naming the node and
//     the attribute.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateResolveConvTransposePadsPass();

}  // namespace tflayout
