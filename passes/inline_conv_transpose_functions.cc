#include "passes/inline_conv_transpose_functions.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "lib/ir/local_functions.h"
#include "tflayout/graph_view.h"
#include "tflayout/node_util.h"
#include "tflayout/model_io.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

using NodeList = google::protobuf::RepeatedPtrField<onnx::NodeProto>;

// Bounds on what inlining may build: nested functions calling each other twice per level
// double the node count per level, and bodies with subgraphs inlined into subgraphs nest
// deeper. A model past them fails the pass with a clear error instead of exhausting memory or
// the stack of the recursive graph walks.
constexpr int64_t kMaxInlinedNodes = int64_t{1} << 20;

int64_t CountNodesDeep(const NodeList& nodes) {
  int64_t n = 0;
  ForEachNodeDeep(nodes, [&](const onnx::NodeProto&) { ++n; });
  return n;
}

struct Call {
  onnx::GraphProto* graph;
  int index;  // of the node in graph: calls are spliced last first, so it stays valid
  onnx::NodeProto* node;
  onnx::FunctionProto* function;
};

std::string DomainLabel(const std::string& domain) {
  return domain.empty() ? "ai.onnx" : domain;
}

void CollectDefinedInGraph(const onnx::GraphProto& graph, std::vector<std::string>& names);

// Every value a node list defines: node outputs, and everything their subgraphs define.
void CollectDefined(const NodeList& nodes, std::vector<std::string>& names) {
  for (const onnx::NodeProto& node : nodes) {
    for (const std::string& out : node.output()) {
      if (!out.empty()) names.push_back(out);
    }
    ForEachSubgraph(node, [&](const onnx::GraphProto& g) { CollectDefinedInGraph(g, names); });
  }
}

void CollectDefinedInGraph(const onnx::GraphProto& graph, std::vector<std::string>& names) {
  for (const onnx::ValueInfoProto& in : graph.input()) names.push_back(in.name());
  for (const onnx::TensorProto& t : graph.initializer()) names.push_back(t.name());
  for (const onnx::SparseTensorProto& s : graph.sparse_initializer()) {
    names.push_back(s.values().name());
  }
  CollectDefined(graph.node(), names);
}

// Gives an inlined body its names in the caller's graph: values through `values`, nodes a
// fresh "<prefix>/<name>".
class BodyRenamer {
 public:
  BodyRenamer(GraphView& view, std::string prefix,
              absl::flat_hash_map<std::string, std::string> values)
      : view_(view), prefix_(std::move(prefix)), values_(std::move(values)) {}

  void Nodes(NodeList& nodes) {
    for (onnx::NodeProto& node : nodes) {
      for (std::string& in : *node.mutable_input()) in = Value(in);
      for (std::string& out : *node.mutable_output()) out = Value(out);
      node.set_name(view_.UniqueName(
          absl::StrCat(prefix_, "/", node.name().empty() ? node.op_type() : node.name())));
      ForEachSubgraph(node, [&](onnx::GraphProto& g) { Graph(g); });
    }
  }

 private:
  std::string Value(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? name : it->second;
  }
  void Graph(onnx::GraphProto& graph) {
    for (onnx::ValueInfoProto& v : *graph.mutable_input()) v.set_name(Value(v.name()));
    for (onnx::ValueInfoProto& v : *graph.mutable_output()) v.set_name(Value(v.name()));
    for (onnx::ValueInfoProto& v : *graph.mutable_value_info()) v.set_name(Value(v.name()));
    for (onnx::TensorProto& t : *graph.mutable_initializer()) t.set_name(Value(t.name()));
    for (onnx::SparseTensorProto& s : *graph.mutable_sparse_initializer()) {
      s.mutable_values()->set_name(Value(s.values().name()));
    }
    Nodes(*graph.mutable_node());
  }

  GraphView& view_;
  std::string prefix_;
  absl::flat_hash_map<std::string, std::string> values_;
};

const onnx::AttributeProto* FindAttribute(
    const google::protobuf::RepeatedPtrField<onnx::AttributeProto>& attrs,
    const std::string& name) {
  for (const onnx::AttributeProto& a : attrs) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

// Replaces every attribute reference in the body (subgraphs included) by the call's value,
// else the function's default, else drops it (the attribute is then absent, as ONNX says).
void SubstituteAttributeRefs(NodeList& body, const onnx::NodeProto& call,
                             const std::vector<onnx::AttributeProto>& defaults) {
  google::protobuf::RepeatedPtrField<onnx::AttributeProto> default_list(defaults.begin(),
                                                                        defaults.end());
  ForEachNodeDeep(body, [&](onnx::NodeProto& node) {
    auto* attrs = node.mutable_attribute();
    for (int i = 0; i < attrs->size();) {
      onnx::AttributeProto& attr = *attrs->Mutable(i);
      if (attr.ref_attr_name().empty()) {
        ++i;
        continue;
      }
      const onnx::AttributeProto* value = FindAttribute(call.attribute(), attr.ref_attr_name());
      if (value == nullptr) value = FindAttribute(default_list, attr.ref_attr_name());
      if (value == nullptr) {
        attrs->DeleteSubrange(i, 1);
        continue;
      }
      const std::string name = attr.name();
      attr = *value;
      attr.set_name(name);
      attr.clear_ref_attr_name();
      ++i;
    }
  });
}

// Replaces nodes[index] by `body`, keeping every other node object where it is.
void Splice(NodeList& nodes, int index, std::vector<onnx::NodeProto> body) {
  const int tail_size = nodes.size() - index - 1;
  std::vector<onnx::NodeProto*> tail(tail_size);
  if (tail_size > 0) nodes.ExtractSubrange(index + 1, tail_size, tail.data());
  nodes.RemoveLast();  // the call
  for (onnx::NodeProto& node : body) *nodes.Add() = std::move(node);
  for (onnx::NodeProto* node : tail) nodes.AddAllocated(node);
}

class InlineConvTransposeFunctionsPass : public Pass {
 public:
  std::string Name() const override { return "inline-conv-transpose-functions"; }
  std::string Summary() const override {
    return "Inline calls of model-local functions whose body computes a ConvTranspose, so that "
           "the passes after it see the weight";
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    calls_inlined_ += 0;
    if (context.model.functions_size() == 0) return false;
    left_.clear();
    inlined_.clear();
    nodes_created_ = 0;
    bool changed = false;
    // Each round inlines the calls the graphs hold now; nested calls surface in the next.
    TFL_RETURN_IF_ERROR(CheckExpandedSize(context.model));
    const int max_rounds = context.model.functions_size() + 1;
    for (int round = 0; round <= max_rounds; ++round) {
      LocalFunctions functions(context.model);
      GraphView view(context.model);
      std::vector<Call> calls = CollectCalls(context, functions, view);
      if (calls.empty()) break;
      for (const Call& call : calls) {
        TFL_ASSIGN_OR_RETURN(bool inlined, Inline(context, view, call));
        changed |= inlined;
      }
      if (absl::Status depth = CheckGraphDepth(context.model, LoadOptions{}.max_graph_depth);
          !depth.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("inlining local functions: ", depth.message()));
      }
    }
    changed |= RemoveUncalledFunctions(context);
    return changed;
  }

 private:
  // Calls to inline, children's graphs before their parents' and, within a graph, last node
  // first, so that splicing one never moves another.
  std::vector<Call> CollectCalls(PassContext& context, const LocalFunctions& functions,
                                 const GraphView& view) {
    std::vector<Call> calls;
    const auto& graphs = view.graphs();
    for (auto info = graphs.rbegin(); info != graphs.rend(); ++info) {
      NodeList& nodes = *(*info)->graph->mutable_node();
      for (int i = nodes.size() - 1; i >= 0; --i) {
        onnx::NodeProto* node = nodes.Mutable(i);
        onnx::FunctionProto* function = functions.Callee(*node);
        if (function == nullptr || !functions.HoldsConvTranspose(*function)) continue;
        if (left_.contains(node)) continue;
        if (functions.IsRecursive(*function)) {
          Leave(context, *node, absl::StrCat("local function '", FunctionLabel(*function),
                                             "' calls itself; call left as it is"));
          continue;
        }
        calls.push_back({(*info)->graph, i, node, function});
      }
    }
    return calls;
  }

  // Fails before any change when inlining every call the graphs make would create more than
  // kMaxInlinedNodes nodes (each function's expanded size, memoised over the call graph).
  static absl::Status CheckExpandedSize(onnx::ModelProto& model) {
    LocalFunctions functions(model);
    absl::flat_hash_map<const onnx::FunctionProto*, int64_t> memo;
    std::function<int64_t(const onnx::FunctionProto*)> expanded =
        [&](const onnx::FunctionProto* f) -> int64_t {
      if (auto it = memo.find(f); it != memo.end()) return it->second;
      memo[f] = 1;  // a recursive function is never inlined: count its call as one node
      int64_t n = 0;
      ForEachNodeDeep(f->node(), [&](const onnx::NodeProto& node) {
        const onnx::FunctionProto* callee = functions.Callee(node);
        const bool inlined = callee != nullptr && functions.HoldsConvTranspose(*callee) &&
                             !functions.IsRecursive(*callee);
        n = std::min(kMaxInlinedNodes + 1, n + (inlined ? expanded(callee) : 1));
      });
      memo[f] = n;
      return n;
    };
    int64_t total = 0;
    const onnx::FunctionProto* largest = nullptr;
    ForEachNodeDeep(model.graph().node(), [&](const onnx::NodeProto& node) {
      const onnx::FunctionProto* callee = functions.Callee(node);
      if (callee == nullptr || !functions.HoldsConvTranspose(*callee) ||
          functions.IsRecursive(*callee)) {
        return;
      }
      total = std::min(kMaxInlinedNodes + 1, total + expanded(callee));
      if (largest == nullptr || expanded(callee) > expanded(largest)) largest = callee;
    });
    if (total > kMaxInlinedNodes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inlining the calls of local functions holding a ConvTranspose would create more than ",
          kMaxInlinedNodes, " nodes (largest: '", FunctionLabel(*largest),
          "'; functions calling functions several times per level)"));
    }
    return absl::OkStatus();
  }

  void Leave(PassContext& context, const onnx::NodeProto& call, const std::string& message) {
    left_.insert(&call);
    context.AddRemark(Name(), call.name(), "", message);
    ++calls_left_;
  }

  // Why the function's opset imports cannot join the model's ("" when they can); fills
  // `missing` with the imports to add.
  static std::string OpsetConflict(const onnx::ModelProto& model,
                                   const onnx::FunctionProto& function,
                                   std::map<std::string, int64_t>& missing) {
    std::map<std::string, int64_t> model_versions, function_versions;
    for (const auto& op : model.opset_import()) model_versions[CanonicalDomain(op.domain())] = op.version();
    for (const auto& op : function.opset_import()) {
      function_versions[CanonicalDomain(op.domain())] = op.version();
    }
    absl::flat_hash_set<std::string> used;
    ForEachNodeDeep(function.node(), [&](const onnx::NodeProto& node) {
      used.insert(CanonicalDomain(node.domain()));
    });
    for (const auto& [domain, version] : function_versions) {
      if (!used.contains(domain)) continue;  // imported but not used: no constraint
      auto it = model_versions.find(domain);
      if (it == model_versions.end()) {
        missing[domain] = version;
      } else if (it->second != version) {
        return absl::StrCat("local function '", FunctionLabel(function), "' imports domain '",
                            DomainLabel(domain), "' at version ", version,
                            ", the model at version ", it->second,
                            ": not inlined (its body would change meaning); call left as it is");
      }
    }
    return "";
  }

  absl::StatusOr<bool> Inline(PassContext& context, GraphView& view, const Call& call) {
    const onnx::NodeProto& node = *call.node;
    const onnx::FunctionProto& function = *call.function;
    const std::string label = FunctionLabel(function);
    if (node.input_size() > function.input_size() || node.output_size() > function.output_size()) {
      Leave(context, node, absl::StrCat("call of local function '", label, "' has ",
                                        node.input_size(), " inputs and ", node.output_size(),
                                        " outputs, the function declares ", function.input_size(),
                                        " and ", function.output_size(), "; call left as it is"));
      return false;
    }
    std::map<std::string, int64_t> missing_imports;
    if (std::string conflict = OpsetConflict(context.model, function, missing_imports);
        !conflict.empty()) {
      Leave(context, node, conflict);
      return false;
    }

    // Inputs bind to the call's names (omitted: ""); outputs to the call's outputs, through an
    // Identity when the body returns an input or returns one value twice.
    absl::flat_hash_map<std::string, std::string> values;
    absl::flat_hash_set<std::string> formal_inputs;
    for (int i = 0; i < function.input_size(); ++i) {
      values[function.input(i)] = i < node.input_size() ? node.input(i) : "";
      formal_inputs.insert(function.input(i));
    }
    std::vector<std::pair<std::string, std::string>> identities;  // body value -> call output
    for (int j = 0; j < node.output_size(); ++j) {
      const std::string& body_value = function.output(j);
      if (node.output(j).empty()) continue;
      if (formal_inputs.contains(body_value) || values.contains(body_value)) {
        identities.push_back({body_value, node.output(j)});
      } else {
        values[body_value] = node.output(j);
      }
    }
    const std::string prefix = node.name().empty() ? node.op_type() : node.name();
    std::vector<std::string> defined;
    CollectDefined(function.node(), defined);
    for (const std::string& name : defined) {
      if (!values.contains(name)) values[name] = view.UniqueName(absl::StrCat(prefix, "/", name));
    }
    for (const auto& [body_value, output] : identities) {
      if (values[body_value].empty()) {
        Leave(context, node, absl::StrCat("local function '", label, "' returns its input '",
                                          body_value, "', which the call omits; call left as it is"));
        return false;
      }
    }

    nodes_created_ += CountNodesDeep(function.node());
    if (nodes_created_ > kMaxInlinedNodes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inlining local function '", label, "' at call '", node.name(), "' would create more than ",
          kMaxInlinedNodes, " nodes (functions calling functions several times per level)"));
    }
    NodeList body = function.node();
    BodyRenamer(view, prefix, values).Nodes(body);
    SubstituteAttributeRefs(body, node, FunctionAttributeDefaults(function));
    std::vector<onnx::NodeProto> inlined;
    inlined.reserve(body.size() + identities.size());
    for (onnx::NodeProto& n : body) inlined.push_back(std::move(n));
    for (const auto& [body_value, output] : identities) {
      onnx::NodeProto identity;
      identity.set_name(view.UniqueName(absl::StrCat(prefix, "/Identity")));
      identity.set_op_type("Identity");
      identity.add_input(values[body_value]);
      identity.add_output(output);
      inlined.push_back(std::move(identity));
    }

    for (const auto& [domain, version] : missing_imports) {
      onnx::OperatorSetIdProto* op = context.model.add_opset_import();
      op->set_domain(domain);
      op->set_version(version);
    }
    inlined_.insert(label);
    const int index = call.index;
    if (index >= call.graph->node_size() || call.graph->mutable_node(index) != call.node) {
      return absl::InternalError(absl::StrCat("call '", node.name(), "' of '", label,
                                              "' is not in its graph"));
    }
    Splice(*call.graph->mutable_node(), index, std::move(inlined));
    ++calls_inlined_;
    return true;
  }

  // Removes the functions this run inlined that no graph and no remaining function calls.
  bool RemoveUncalledFunctions(PassContext& context) {
    bool removed_any = false;
    for (bool removed = true; removed;) {
      removed = false;
      LocalFunctions functions(context.model);
      absl::flat_hash_set<const onnx::FunctionProto*> called;
      auto note_call = [&](const onnx::NodeProto& n) {
        if (const onnx::FunctionProto* f = functions.Callee(n)) called.insert(f);
      };
      ForEachNodeDeep(context.model.graph().node(), note_call);
      for (const onnx::FunctionProto& f : context.model.functions()) {
        ForEachNodeDeep(f.node(), [&](const onnx::NodeProto& n) {
          const onnx::FunctionProto* callee = functions.Callee(n);
          if (callee != nullptr && callee != &f) called.insert(callee);
        });
      }
      auto* list = context.model.mutable_functions();
      for (int i = list->size() - 1; i >= 0; --i) {
        const onnx::FunctionProto& f = list->Get(i);
        if (called.contains(&f) || !inlined_.contains(FunctionLabel(f))) continue;
        list->DeleteSubrange(i, 1);
        ++functions_removed_;
        removed = removed_any = true;
        break;  // pointers in `called` are stale now
      }
    }
    return removed_any;
  }

  absl::flat_hash_set<const onnx::NodeProto*> left_;  // calls left with a remark
  absl::flat_hash_set<std::string> inlined_;          // labels of functions inlined somewhere
  int64_t nodes_created_ = 0;

  // Statistics, reported in this order.
  PassStatistic calls_inlined_{this, "calls-inlined", "local-function calls replaced by their bodies"};
  PassStatistic calls_left_{this, "calls-left", "calls left alone (with a remark)"};
  PassStatistic functions_removed_{this, "functions-removed", "local functions no longer called"};
};

}  // namespace

std::unique_ptr<Pass> CreateInlineConvTransposeFunctionsPass() {
  return std::make_unique<InlineConvTransposeFunctionsPass>();
}

}  // namespace tflayout
