// gemm-to-tf: Store constant Gemm B operands in TensorFlow/Keras Dense layout (K, N) with transB=0
//
// Before (B stored as (N, K), read transposed):
//     B = initializer (or Constant) (N, K)     Y = Gemm(A, B, C, transB=1)
// After (standard ONNX, no extra node, the same math):
//     B__tf = initializer (K, N)               Y = Gemm(A, B__tf, C, transB=0)
// (K, N) is a Keras Dense kernel and tf.matmul's right operand with transpose_b=False, so a
// converter builds the matmul with no weight transpose. torch.nn.Linear exports this form
// (weight (out, in), transB=1).
//
// Conditions: ai.onnx Gemm in any graph with transB=1; B an initializer or Constant output
// of rank 2 read only as B by Gemm nodes that all set transB=1. B read with transB=0 already
// has the (K, N) layout and is counted as already in TF layout. Initializers listed as graph
// inputs follow conv-transpose-to-tf's rule (constants below IR 4; from IR 4 left alone with a
// remark unless {initializers-as-inputs=constant}). Anything else is left alone with a remark.
// The annotation records every rewrite (op_type "Gemm", form "standard"), which lets
// conv-transpose-from-tf restore the weight and transB=1 bit for bit.
// Statistics: gemm-weights = weights-rewritten + weights-already-tf + weights-left-alone.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateGemmToTfPass();

}  // namespace tflayout
