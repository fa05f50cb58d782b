#include "lib/ir/verify.h"

#include <exception>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tflayout/node_util.h"
#include "tflayout/status.h"
#include "onnx/checker.h"

namespace tflayout {
namespace {

using Scope = std::vector<const absl::flat_hash_set<std::string>*>;

bool Visible(const Scope& scope, const std::string& name) {
  for (const auto* names : scope) {
    if (names->contains(name)) return true;
  }
  return false;
}

absl::Status CheckGraph(const onnx::GraphProto& graph, Scope& scope,
                        const absl::flat_hash_set<std::string>& domains,
                        const std::string& where) {
  absl::flat_hash_set<std::string> defined;
  absl::flat_hash_set<std::string> initializers;
  for (const onnx::TensorProto& t : graph.initializer()) {
    if (!initializers.insert(t.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "duplicate initializer name '", t.name(), "'"));
    }
    defined.insert(t.name());
  }
  for (const onnx::SparseTensorProto& s : graph.sparse_initializer()) {
    defined.insert(s.values().name());
  }
  for (const onnx::ValueInfoProto& in : graph.input()) defined.insert(in.name());
  // Outputs of all nodes first: the graph need not be sorted for this check.
  for (const onnx::NodeProto& node : graph.node()) {
    for (const std::string& out : node.output()) {
      if (out.empty()) continue;
      if (!defined.insert(out).second && !initializers.contains(out)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "node '", node.name(), "': value '", out, "' is defined more than once"));
      }
      if (initializers.contains(out)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "node '", node.name(), "': output '", out, "' is also an initializer"));
      }
    }
  }
  scope.push_back(&defined);
  for (const onnx::NodeProto& node : graph.node()) {
    if (!domains.contains(node.domain())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "node '", node.name(), "' (", node.op_type(), "): domain '", node.domain(),
          "' has no opset_import"));
    }
    for (const std::string& in : node.input()) {
      if (!in.empty() && !Visible(scope, in)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "node '", node.name(), "' (", node.op_type(), "): input '", in,
            "' is not defined"));
      }
    }
    for (const onnx::AttributeProto& attr : node.attribute()) {
      const std::string sub = absl::StrCat(where, node.name(), "/", attr.name(), ": ");
      if (attr.has_g()) TFL_RETURN_IF_ERROR(CheckGraph(attr.g(), scope, domains, sub));
      for (const onnx::GraphProto& g : attr.graphs()) {
        TFL_RETURN_IF_ERROR(CheckGraph(g, scope, domains, sub));
      }
    }
  }
  for (const onnx::ValueInfoProto& out : graph.output()) {
    if (!Visible(scope, out.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "graph output '", out.name(), "' is not defined"));
    }
  }
  scope.pop_back();
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckStructure(const onnx::ModelProto& model) {
  absl::flat_hash_set<std::string> domains;
  for (const onnx::OperatorSetIdProto& op : model.opset_import()) {
    domains.insert(CanonicalDomain(op.domain()));
  }
  for (const onnx::FunctionProto& f : model.functions()) domains.insert(f.domain());
  Scope scope;
  return CheckGraph(model.graph(), scope, domains, "");
}

absl::Status RunOnnxChecker(const onnx::ModelProto& model) {
  if (model.ir_version() > kMaxCheckerIrVersion) return absl::OkStatus();
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX checker: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status VerifyModel(const onnx::ModelProto& model) {
  TFL_RETURN_IF_ERROR(CheckStructure(model));
  return RunOnnxChecker(model);
}

}  // namespace tflayout
