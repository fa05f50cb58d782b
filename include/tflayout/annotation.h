// The annotation contract (proto/tflayout.proto): stored as JSON, proto field names kept, in
// metadata_props["tflayout.annotation"]; numbers are JSON numbers (schema_version 3).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "tflayout/tflayout.pb.h"

namespace tflayout {

inline constexpr char kAnnotationKey[] = "tflayout.annotation";
// 1: int64 values written as JSON strings (protobuf's proto3 JSON mapping); still read.
// 2: every number a JSON number. The fields and their meaning are the same.
// 3: RewrittenTensor.op_type names the reading operator (empty, as in 1 and 2: ConvTranspose).
inline constexpr int kAnnotationSchemaVersion = 3;

// RewrittenTensor.form: a Transpose back to ONNX layout feeds the unchanged node (compensate),
// the node became a tflayout custom op reading the TF-layout tensor (custom-op), or a standard
// node reads it with adjusted attributes (standard: Gemm with transB=0).
inline constexpr char kFormCompensate[] = "compensate";
inline constexpr char kFormCustomOp[] = "custom-op";
inline constexpr char kFormStandard[] = "standard";

// The library's version string.
const char* ToolVersion();

// Reads the annotation; a model without one yields an empty Annotation.
absl::StatusOr<Annotation> ReadAnnotation(const onnx::ModelProto& model);

// Writes the annotation (schema and tool version filled in); removes the entry when the
// annotation records nothing.
absl::Status WriteAnnotation(const Annotation& annotation, onnx::ModelProto& model);

// JSON text of one of our messages (annotation, run report): proto field names, default scalars
// and empty lists left out, maps as objects with sorted keys, and every number a JSON number
// (int64 too, unlike protobuf's json_util). Protobuf's JSON parser reads it back.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// ONNX -> TF permutation for a weight of rank r: [2, ..., r-1, 1, 0]; and its inverse.
std::vector<int64_t> OnnxToTfPerm(int rank);
std::vector<int64_t> TfToOnnxPerm(int rank);

}  // namespace tflayout
