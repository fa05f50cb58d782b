// The annotation contract (proto/tflayout.proto): stored as JSON, proto field names kept, in
// metadata_props["tflayout.annotation"].
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "tflayout/tflayout.pb.h"

namespace tflayout {

inline constexpr char kAnnotationKey[] = "tflayout.annotation";
inline constexpr int kAnnotationSchemaVersion = 1;

// The library's version string.
const char* ToolVersion();

// Reads the annotation; a model without one yields an empty Annotation.
absl::StatusOr<Annotation> ReadAnnotation(const onnx::ModelProto& model);

// Writes the annotation (schema and tool version filled in); removes the entry when the
// annotation records nothing.
absl::Status WriteAnnotation(const Annotation& annotation, onnx::ModelProto& model);

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// ONNX -> TF permutation for a weight of rank r: [2, ..., r-1, 1, 0]; and its inverse.
std::vector<int64_t> OnnxToTfPerm(int rank);
std::vector<int64_t> TfToOnnxPerm(int rank);

}  // namespace tflayout
