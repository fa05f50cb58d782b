#include "lib/ir/local_functions.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/unknown_field_set.h"
#include "tflayout/conv_transpose.h"

namespace tflayout {
namespace {

// Field numbers from onnx.proto (IR 9/10) that ONNX 1.12's generated classes do not know.
constexpr int kFunctionAttributeProtoField = 11;
constexpr int kFunctionOverloadField = 13;
constexpr int kNodeOverloadField = 8;

// The last length-delimited value of an unknown field, or "".
std::string UnknownString(const google::protobuf::Message& message, int number) {
  const google::protobuf::UnknownFieldSet& fields =
      message.GetReflection()->GetUnknownFields(message);
  std::string value;
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() == number &&
        field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      value = field.length_delimited();
    }
  }
  return value;
}

std::string Key(absl::string_view domain, absl::string_view name, absl::string_view overload) {
  return absl::StrCat(CanonicalDomain(domain), std::string(1, '\0'), name, std::string(1, '\0'),
                      overload);
}


}  // namespace

std::string FunctionLabel(const onnx::FunctionProto& function) {
  std::string label = absl::StrCat(function.domain(), ".", function.name());
  const std::string overload = UnknownString(function, kFunctionOverloadField);
  if (!overload.empty()) absl::StrAppend(&label, ":", overload);
  return label;
}

std::vector<onnx::AttributeProto> FunctionAttributeDefaults(const onnx::FunctionProto& function) {
  std::vector<onnx::AttributeProto> defaults;
  const google::protobuf::UnknownFieldSet& fields =
      function.GetReflection()->GetUnknownFields(function);
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() != kFunctionAttributeProtoField ||
        field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    onnx::AttributeProto attr;
    if (attr.ParseFromString(field.length_delimited())) defaults.push_back(std::move(attr));
  }
  return defaults;
}


LocalFunctions::LocalFunctions(onnx::ModelProto& model) : model_(model) {
  for (onnx::FunctionProto& function : *model.mutable_functions()) {
    by_key_.emplace(Key(function.domain(), function.name(),
                        UnknownString(function, kFunctionOverloadField)),
                    &function);
  }
  // The call graph, and which bodies hold a ConvTranspose themselves.
  for (const onnx::FunctionProto& function : model.functions()) {
    auto& callees = callees_[&function];
    bool direct = false;
    ForEachNodeDeep(function.node(), [&](const onnx::NodeProto& node) {
      direct |= IsOnnxConvTranspose(node);
      if (const onnx::FunctionProto* callee = Callee(node)) callees.push_back(callee);
    });
    if (direct) holds_conv_transpose_.insert(&function);
  }
  // Through calls: propagate until nothing changes (the call graph is small).
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [function, callees] : callees_) {
      if (holds_conv_transpose_.contains(function)) continue;
      for (const onnx::FunctionProto* callee : callees) {
        if (holds_conv_transpose_.contains(callee)) {
          holds_conv_transpose_.insert(function);
          grew = true;
          break;
        }
      }
    }
  }
  for (const onnx::FunctionProto& function : model.functions()) Visit(&function);
}

// Marks `start` recursive when a walk of its callees comes back to it.
void LocalFunctions::Visit(const onnx::FunctionProto* start) {
  absl::flat_hash_set<const onnx::FunctionProto*> seen;
  std::vector<const onnx::FunctionProto*> stack = callees_[start];
  while (!stack.empty()) {
    const onnx::FunctionProto* f = stack.back();
    stack.pop_back();
    if (f == start) {
      recursive_.insert(start);
      return;
    }
    if (!seen.insert(f).second) continue;
    for (const onnx::FunctionProto* callee : callees_[f]) stack.push_back(callee);
  }
}

onnx::FunctionProto* LocalFunctions::Callee(const onnx::NodeProto& node) const {
  if (by_key_.empty()) return nullptr;
  auto it = by_key_.find(
      Key(node.domain(), node.op_type(), UnknownString(node, kNodeOverloadField)));
  return it == by_key_.end() ? nullptr : it->second;
}

bool LocalFunctions::HoldsConvTranspose(const onnx::FunctionProto& function) const {
  return holds_conv_transpose_.contains(&function);
}

bool LocalFunctions::IsRecursive(const onnx::FunctionProto& function) const {
  return recursive_.contains(&function);
}

int64_t LocalFunctions::Instances(const onnx::FunctionProto& function) const {
  absl::flat_hash_map<const onnx::FunctionProto*, int64_t> memo;
  absl::flat_hash_set<const onnx::FunctionProto*> in_progress;
  std::function<int64_t(const onnx::FunctionProto*)> count = [&](const onnx::FunctionProto* f) {
    if (auto it = memo.find(f); it != memo.end()) return it->second;
    if (!in_progress.insert(f).second) return int64_t{0};
    int64_t n = 0;
    ForEachNodeDeep(model_.graph().node(), [&](const onnx::NodeProto& node) {
      if (Callee(node) == f) ++n;
    });
    for (const auto& [caller, callees] : callees_) {
      for (const onnx::FunctionProto* callee : callees) {
        if (callee == f && caller != f) n += count(caller);
      }
    }
    in_progress.erase(f);
    memo[f] = n;
    return n;
  };
  return count(&function);
}

std::vector<onnx::FunctionProto*> LocalFunctions::Reachable() const {
  absl::flat_hash_set<const onnx::FunctionProto*> reached;
  std::vector<const onnx::FunctionProto*> stack;
  ForEachNodeDeep(model_.graph().node(), [&](const onnx::NodeProto& node) {
    if (const onnx::FunctionProto* f = Callee(node)) stack.push_back(f);
  });
  while (!stack.empty()) {
    const onnx::FunctionProto* f = stack.back();
    stack.pop_back();
    if (!reached.insert(f).second) continue;
    auto it = callees_.find(f);
    if (it != callees_.end()) stack.insert(stack.end(), it->second.begin(), it->second.end());
  }
  std::vector<onnx::FunctionProto*> in_order;
  for (onnx::FunctionProto& function : *model_.mutable_functions()) {
    if (reached.contains(&function)) in_order.push_back(&function);
  }
  return in_order;
}

}  // namespace tflayout
