#include "tflayout/annotation.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

namespace tflayout {

const char* ToolVersion() {
#ifdef TFLAYOUT_VERSION
  return TFLAYOUT_VERSION;
#else
  return "unknown";
#endif
}

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// JSON text for our own messages: protobuf's JSON mapping (proto field names, default scalars
// and empty lists left out, map fields as objects) except that int64 values are plain JSON
// numbers, not strings. Protobuf 3.21's json_util has no option for that, and the annotation
// exists for tools reading it with any JSON parser. Protobuf's parser reads both forms.

void AppendJsonString(absl::string_view text, std::string& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out.push_back(c);  // UTF-8 passes through (proto3 strings are valid UTF-8)
        }
    }
  }
  out.push_back('"');
}

// Shortest text that reads back as the same double; non-finite values as protobuf writes them.
void AppendDouble(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    std::string text = absl::StrFormat("%.15g", value);
    if (std::strtod(text.c_str(), nullptr) != value) text = absl::StrFormat("%.17g", value);
    out += text;
  }
}

void AppendMessage(const Message& message, std::string& out);

// One value of `field`: the singular value when index < 0, else element `index`.
void AppendValue(const Message& message, const FieldDescriptor* field, int index,
                 std::string& out) {
  const Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedInt32(message, field, index)
                                : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(&out, rep ? r->GetRepeatedInt64(message, field, index)
                                : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, rep ? r->GetRepeatedUInt32(message, field, index)
                                : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, rep ? r->GetRepeatedUInt64(message, field, index)
                                : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(rep ? r->GetRepeatedDouble(message, field, index)
                       : r->GetDouble(message, field), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendDouble(rep ? r->GetRepeatedFloat(message, field, index)
                       : r->GetFloat(message, field), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      AppendJsonString((rep ? r->GetRepeatedEnum(message, field, index)
                            : r->GetEnum(message, field))->name(), out);
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value = rep ? r->GetRepeatedString(message, field, index)
                                    : r->GetString(message, field);
      AppendJsonString(field->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(value)
                                                                    : value, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(rep ? r->GetRepeatedMessage(message, field, index)
                        : r->GetMessage(message, field), out);
      break;
  }
}

// A map field as a JSON object, keys sorted (the wire order of map entries is unspecified).
void AppendMap(const Message& message, const FieldDescriptor* field, std::string& out) {
  const Reflection* r = message.GetReflection();
  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < r->FieldSize(message, field); ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    const FieldDescriptor* key = entry.GetDescriptor()->map_key();
    const FieldDescriptor* value = entry.GetDescriptor()->map_value();
    std::string key_text;
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      key_text = entry.GetReflection()->GetString(entry, key);
    } else {
      AppendValue(entry, key, -1, key_text);  // integer and bool keys become strings
    }
    std::string value_text;
    AppendValue(entry, value, -1, value_text);
    entries.emplace_back(std::move(key_text), std::move(value_text));
  }
  std::sort(entries.begin(), entries.end());
  out.push_back('{');
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(entries[i].first, out);
    out.push_back(':');
    out += entries[i].second;
  }
  out.push_back('}');
}

void AppendMessage(const Message& message, std::string& out) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);  // set fields, by field number
  out.push_back('{');
  for (size_t f = 0; f < fields.size(); ++f) {
    const FieldDescriptor* field = fields[f];
    if (f > 0) out.push_back(',');
    AppendJsonString(field->name(), out);
    out.push_back(':');
    if (field->is_map()) {
      AppendMap(message, field, out);
    } else if (field->is_repeated()) {
      out.push_back('[');
      for (int i = 0; i < message.GetReflection()->FieldSize(message, field); ++i) {
        if (i > 0) out.push_back(',');
        AppendValue(message, field, i, out);
      }
      out.push_back(']');
    } else {
      AppendValue(message, field, -1, out);
    }
  }
  out.push_back('}');
}

}  // namespace

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string json;
  AppendMessage(message, json);
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
