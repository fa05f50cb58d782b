// split-conv-transpose-bias: the bias of a 3-D ConvTranspose becomes an explicit Add.
//
// Before:  Y = ConvTranspose(X, W, B)                       B: (M)
// After:   Y__no_bias = ConvTranspose(X, W)
//          Y = Add(Y__no_bias, B__bias)                     B__bias: (1, M, 1, ..., 1), B's bytes
//
// Why: onnx2tf 1.29 drops the bias of a 3-D ConvTranspose with group == 1 (it adds the bias
// per group for 1-D/2-D and after the concat of grouped 3-D only); measured on decoder_3d,
// whose outputs were off by the bias (python/tests/test_onnx2tf_models.py). The Add is exact:
// ConvTranspose adds the same value per output channel. B__bias has the activation's rank, so
// a converter that moves channels last moves the bias's channel axis with it.
//
// Conditions: ai.onnx ConvTranspose in any graph whose weight has rank 5 (3 spatial axes, or
// every rank with {ranks=all}) and whose bias is a constant (initializer or Constant) stored in
// the model file; otherwise the node is kept with a remark. The node keeps its name.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateSplitConvTransposeBiasPass();

}  // namespace tflayout
