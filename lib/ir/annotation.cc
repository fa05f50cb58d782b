#include "tflayout/annotation.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tflayout {

const char* ToolVersion() {
#ifdef TFLAYOUT_VERSION
  return TFLAYOUT_VERSION;
#else
  return "unknown";
#endif
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return json;
}

absl::StatusOr<Annotation> ReadAnnotation(const onnx::ModelProto& model) {
  Annotation annotation;
  for (const onnx::StringStringEntryProto& kv : model.metadata_props()) {
    if (kv.key() != kAnnotationKey) continue;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;  // newer tools may add fields
    auto status = google::protobuf::util::JsonStringToMessage(kv.value(), &annotation, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("metadata_props['", kAnnotationKey,
                                                     "'] is not a valid annotation: ",
                                                     std::string(status.message())));
    }
  }
  return annotation;
}

absl::Status WriteAnnotation(const Annotation& annotation, onnx::ModelProto& model) {
  auto* props = model.mutable_metadata_props();
  int index = -1;
  for (int i = 0; i < props->size(); ++i) {
    if (props->Get(i).key() == kAnnotationKey) index = i;
  }
  if (annotation.tensors_size() == 0 && annotation.remarks_size() == 0) {
    if (index >= 0) props->DeleteSubrange(index, 1);
    return absl::OkStatus();
  }
  Annotation stamped = annotation;
  stamped.set_schema_version(kAnnotationSchemaVersion);
  stamped.set_tool_version(ToolVersion());
  auto json = ToJson(stamped);
  if (!json.ok()) return json.status();
  onnx::StringStringEntryProto* entry = index >= 0 ? props->Mutable(index) : props->Add();
  entry->set_key(kAnnotationKey);
  entry->set_value(*json);
  return absl::OkStatus();
}

std::vector<int64_t> OnnxToTfPerm(int rank) {
  std::vector<int64_t> perm;
  for (int i = 2; i < rank; ++i) perm.push_back(i);
  perm.push_back(1);
  perm.push_back(0);
  return perm;
}

std::vector<int64_t> TfToOnnxPerm(int rank) {
  std::vector<int64_t> perm = {rank - 1, rank - 2};
  for (int i = 0; i < rank - 2; ++i) perm.push_back(i);
  return perm;
}

}  // namespace tflayout
