// Model-local functions (ModelProto.functions): which function a node calls, whether a
// function's body computes an ai.onnx ConvTranspose (directly, in a subgraph of its body, or
// through a nested local function call), and which functions the model's graphs reach.
//
// The ONNX C++ library we build against (1.12) predates IR 9/10, so FunctionProto's
// `attribute_proto` (defaults of attributes, field 11) and `overload` (field 13), and
// NodeProto's `overload` (field 8), are unknown fields here; they are read from the unknown
// field set, which protobuf keeps.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"
#include "tflayout/node_util.h"

namespace tflayout {

// "domain.name" (plus ":overload" when there is one), as messages name a function.
std::string FunctionLabel(const onnx::FunctionProto& function);

// The attributes with default values of a function (FunctionProto.attribute_proto, IR >= 9).
std::vector<onnx::AttributeProto> FunctionAttributeDefaults(const onnx::FunctionProto& function);

class LocalFunctions {
 public:
  // Holds pointers into model.functions(): rebuild after adding or removing functions.
  explicit LocalFunctions(onnx::ModelProto& model);

  // The model-local function `node` calls, or nullptr.
  onnx::FunctionProto* Callee(const onnx::NodeProto& node) const;
  // The body has an ai.onnx ConvTranspose, directly or through local calls.
  bool HoldsConvTranspose(const onnx::FunctionProto& function) const;
  // The function calls itself, directly or through others (invalid ONNX; never inlined).
  bool IsRecursive(const onnx::FunctionProto& function) const;
  // Functions called from the main graph or its subgraphs, directly or through other
  // functions, in model order.
  std::vector<onnx::FunctionProto*> Reachable() const;
  // How many call sites, expanded through nested calls, run the function's body: each call
  // from a graph counts once, each call from a body as often as that body runs (recursive
  // cycles count once).
  int64_t Instances(const onnx::FunctionProto& function) const;

 private:
  void Visit(const onnx::FunctionProto* function);

  onnx::ModelProto& model_;
  absl::flat_hash_map<std::string, onnx::FunctionProto*> by_key_;
  absl::flat_hash_map<const onnx::FunctionProto*, std::vector<const onnx::FunctionProto*>> callees_;
  absl::flat_hash_set<const onnx::FunctionProto*> holds_conv_transpose_;
  absl::flat_hash_set<const onnx::FunctionProto*> recursive_;
};

}  // namespace tflayout
