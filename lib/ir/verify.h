// Verification run after each pass: ONNX's checker where it applies (IR version <= 8, the
// newest the bundled ONNX 1.12 knows) plus the project's own structural checks, which hold for
// any IR version: every node input is defined in its graph or an enclosing one, no value is
// defined twice in one graph, initializer names are unique, and every node's domain has an
// opset_import.
#pragma once

#include "absl/status/status.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

inline constexpr int64_t kMaxCheckerIrVersion = 8;

absl::Status CheckStructure(const onnx::ModelProto& model);

// ONNX's checker; OK without running it when the IR version is newer than it knows.
absl::Status RunOnnxChecker(const onnx::ModelProto& model);

absl::Status VerifyModel(const onnx::ModelProto& model);

}  // namespace tflayout
