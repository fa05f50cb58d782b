// split-conv-transpose-bias: Move the bias of a 3-D ungrouped ConvTranspose into a
// BatchNormalization that only adds it (onnx2tf drops that bias)
//
// Before:  Y = ConvTranspose(X, W, B)                 W: (C, M, k1, k2, k3), group = 1
// After:   Y__no_bias = ConvTranspose(X, W)
//          Y = BatchNormalization(Y__no_bias, ones(M), B, zeros(M), ones(M)), epsilon = 0
//                                                     (X - 0) / sqrt(1 + 0) * 1 + B = X + B
//
// Why: onnx2tf 1.29 drops the bias of a 3-D ConvTranspose with group == 1 (it adds the bias
// per group for 1-D/2-D and after the concat for grouped 3-D only); measured on decoder_3d and
// the generated matrix (python/tests/test_onnx2tf_*.py). An explicit Add after the node does
// not help: onnx2tf then hands the 5-D result back channels-first (and wrong); a 1x1x1
// identity Conv works but costs M*M multiply-adds per voxel. BatchNormalization with unit
// scale and variance, zero mean and epsilon 0 is one add per element, converts exactly through
// onnx2tf (with and without onnxsim, which does not fold it into the ConvTranspose), and B
// itself is read unchanged (same tensor, same bytes).
//
// Conditions: ai.onnx ConvTranspose in any graph, group 1, a constant weight of rank 5 and a
// bias input; float, float16 or double; default-domain opset >= 7 (BatchNormalization with
// five inputs; at 7 and 8 its `spatial` defaults to 1, the per-channel add of opset 9 on).
// Below IR 4 the new statistics are listed as graph inputs of the main graph, as IR 3 requires
// (torch.onnx.export at opset 8). Otherwise the node is kept (with a remark when it has a bias
// but cannot be split). The ConvTranspose keeps its name.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateSplitConvTransposeBiasPass();

}  // namespace tflayout
