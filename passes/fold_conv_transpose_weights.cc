#include "passes/fold_conv_transpose_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/ir/constant_eval.h"
#include "passes/common/weight_pass_options.h"
#include "tflayout/node_util.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

using onnx::NodeProto;
using onnx::TensorProto;

using constant_eval::Decode;
using constant_eval::Encode;
using constant_eval::EvalNode;
using constant_eval::FoldedOps;
using constant_eval::IsChainOp;
using constant_eval::IsSupportedType;
using constant_eval::RoundAll;
using constant_eval::Value;

// The subgraph behind one weight, checked before anything is evaluated.
struct Subgraph {
  std::vector<NodeProto*> nodes;             // producers before consumers
  std::vector<std::string> constants;        // leaves
  bool only_chain_ops = true;
};

class FoldConvTransposeWeightsPass : public Pass {
 public:
  std::string Name() const override { return "fold-conv-transpose-weights"; }
  std::string Summary() const override {
    return "Fold constant subgraphs that compute ConvTranspose weights (weight_norm, "
           "spectral_norm exports) into initializers";
  }

  // The constants a computed weight is made of (weight_norm's v and g) are evaluated, so read
  // whole; a weight the annotation records as rewritten is not folded (see Run).
  absl::Status DeclareWeightAccess(const PassContext& context,
                                   WeightAccess& access) const override {
    constexpr size_t kMaxValues = 4096;
    absl::flat_hash_set<std::string> rewritten;
    for (const RewrittenTensor& entry : context.annotation.tensors()) rewritten.insert(entry.source());
    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      for (const NodeProto& node : info->graph->node()) {
        if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || node.input(1).empty()) continue;
        const std::string& weight = node.input(1);
        if (rewritten.contains(weight) || FindConstant(view, weight, {true}).ok()) continue;
        std::vector<std::string> pending = {weight};
        absl::flat_hash_set<std::string> seen = {weight};
        while (!pending.empty() && seen.size() < kMaxValues) {
          const std::string name = pending.back();
          pending.pop_back();
          if (auto constant = FindConstant(view, name, {true}); constant.ok()) {
            access.read_whole.push_back(constant->tensor);
            continue;
          }
          const auto& defs = view.Definitions(name);
          if (defs.size() != 1 || defs[0].node == nullptr) continue;
          for (const std::string& input : defs[0].node->input()) {
            if (!input.empty() && seen.insert(input).second) pending.push_back(input);
          }
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    options_ = initializers_as_inputs_.constant_options();
    opset_ = std::max<int64_t>(1, DefaultDomainOpset(context.model));
    // Weight names first (the view is rebuilt after each fold, which removes nodes).
    std::vector<std::string> weights;
    {
      GraphView view(context.model);
      for (const auto& info : view.graphs()) {
        for (const NodeProto& node : info->graph->node()) {
          if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || node.input(1).empty()) continue;
          if (std::find(weights.begin(), weights.end(), node.input(1)) == weights.end()) {
            weights.push_back(node.input(1));
          }
        }
      }
    }
    // The compensate form's Transpose(W__tf) is conv-transpose-to-tf's own work, not a
    // computation to fold: a second run leaves it.
    absl::flat_hash_set<std::string> rewritten;
    for (const RewrittenTensor& entry : context.annotation.tensors()) rewritten.insert(entry.source());
    bool changed = false;
    for (const std::string& weight : weights) {
      if (rewritten.contains(weight)) continue;
      TFL_ASSIGN_OR_RETURN(bool folded, FoldWeight(context, weight));
      changed |= folded;
    }
    return changed;
  }

 private:
  absl::StatusOr<bool> FoldWeight(PassContext& context, const std::string& weight) {
    GraphView view(context.model);
    if (FindConstant(view, weight, options_).ok()) return false;
    const auto& defs = view.Definitions(weight);
    if (defs.size() != 1 || defs[0].node == nullptr) return false;  // a run-time input
    NodeProto* producer = defs[0].node;
    const std::string reader = ReaderName(view, weight);

    Subgraph sub;
    absl::flat_hash_set<std::string> visited;
    std::string why;
    if (!Collect(view, weight, sub, visited, why, 0)) {
      if (!why.empty()) {
        context.AddRemark(Name(), reader, weight, absl::StrCat("not folded: ", why));
        ++weights_not_folded_;
      }
      return false;
    }
    if (sub.only_chain_ops) return false;  // conv-transpose-to-tf keeps the stored type

    absl::flat_hash_map<std::string, Value> values;
    for (const std::string& name : sub.constants) {
      TFL_ASSIGN_OR_RETURN(ConstantValue constant, FindConstant(view, name, options_));
      absl::StatusOr<Value> v = Decode(*constant.tensor);
      if (!v.ok()) {
        context.AddRemark(Name(), reader, weight,
                          absl::StrCat("not folded: constant '", name, "': ", v.status().message()));
        ++weights_not_folded_;
        return false;
      }
      values[name] = *std::move(v);
    }
    for (NodeProto* node : sub.nodes) {
      std::vector<const Value*> in;
      for (const std::string& name : node->input()) in.push_back(name.empty() ? nullptr : &values.at(name));
      absl::StatusOr<Value> out = EvalNode(*node, in, opset_);
      if (out.ok() && !IsSupportedType(out->type)) out = absl::UnimplementedError("result type");
      if (!out.ok()) {
        context.AddRemark(Name(), reader, weight,
                          absl::StrCat("not folded: ", node->op_type(), " node '", node->name(),
                                       "': ", out.status().message()));
        ++weights_not_folded_;
        return false;
      }
      RoundAll(*out);  // each op's result is stored in its type, as a runtime's would be
      values[node->output(0)] = *std::move(out);
    }

    // Replace the producer by an initializer; drop what nothing reads any more.
    onnx::GraphProto& graph = *defs[0].graph->graph;
    TensorProto folded = Encode(values.at(weight), weight);
    const bool list_as_input = view.ir_version() < kFirstIrWithOptionalInitializerInputs &&
                               defs[0].graph->parent == nullptr;
    if (list_as_input) AddInitializerInput(graph, folded);
    *graph.add_initializer() = std::move(folded);
    RemoveUnread(context, view, producer, sub);
    ++weights_folded_;
    nodes_folded_ += static_cast<int64_t>(sub.nodes.size());
    return true;
  }

  static std::string ReaderName(const GraphView& view, const std::string& weight) {
    for (const GraphView::Use& use : view.Uses(weight)) {
      if (use.node != nullptr && IsOnnxConvTranspose(*use.node)) return use.node->name();
    }
    return "";
  }

  // Depth-first from `name` to constants. False with `why` set: cannot be folded (remark);
  // false with `why` empty: reads a run-time value (conv-transpose-to-tf says so).
  bool Collect(const GraphView& view, const std::string& name, Subgraph& sub,
               absl::flat_hash_set<std::string>& visited, std::string& why, int depth) {
    if (!visited.insert(name).second) return true;
    if (FindConstant(view, name, options_).ok()) {
      sub.constants.push_back(name);
      return true;
    }
    const auto& defs = view.Definitions(name);
    if (defs.size() != 1 || defs[0].node == nullptr) return false;
    NodeProto* node = defs[0].node;
    constexpr int kMaxDepth = 256;
    if (depth > kMaxDepth) {
      why = absl::StrCat("the subgraph is deeper than ", kMaxDepth, " nodes");
      return false;
    }
    if (!IsOnnxDomain(node->domain()) || !FoldedOps().contains(node->op_type()) || node->output_size() != 1) {
      why = absl::StrCat(node->op_type(), " node '", node->name(),
                         "' is not in the folded op set (see passes/fold_conv_transpose_weights.h)");
      return false;
    }
    bool has_subgraph = false;
    ForEachSubgraph(*node, [&](const onnx::GraphProto&) { has_subgraph = true; });
    if (has_subgraph) {
      why = absl::StrCat("node '", node->name(), "' has a subgraph");
      return false;
    }
    if (!IsChainOp(node->op_type())) sub.only_chain_ops = false;
    for (const std::string& input : node->input()) {
      if (!input.empty() && !Collect(view, input, sub, visited, why, depth + 1)) return false;
    }
    sub.nodes.push_back(node);
    return true;
  }

  // Removes the folded nodes and constants that nothing reads any more (and, below IR 4, their
  // graph input entries).
  void RemoveUnread(PassContext& context, const GraphView& view, NodeProto* producer,
                           const Subgraph& sub) {
    absl::flat_hash_map<std::string, int64_t> reads;
    auto count_reads = [&](const std::string& name) {
      if (!reads.contains(name)) reads[name] = static_cast<int64_t>(view.Uses(name).size());
    };
    absl::flat_hash_set<const NodeProto*> removed = {producer};
    for (const std::string& in : producer->input()) {
      count_reads(in);
      --reads[in];
    }
    for (auto it = sub.nodes.rbegin(); it != sub.nodes.rend(); ++it) {
      NodeProto* node = *it;
      if (removed.contains(node)) continue;
      count_reads(node->output(0));
      if (reads[node->output(0)] > 0) continue;
      removed.insert(node);
      for (const std::string& in : node->input()) {
        count_reads(in);
        --reads[in];
      }
    }
    // Constants nothing reads any more: Constant nodes go with the nodes, initializers after.
    std::vector<ConstantValue> unread_initializers;
    for (const std::string& name : sub.constants) {
      count_reads(name);
      if (reads[name] > 0) continue;
      absl::StatusOr<ConstantValue> constant = FindConstant(view, name, {true});
      if (!constant.ok()) continue;
      if (constant->constant_node != nullptr) {
        removed.insert(constant->constant_node);
      } else {
        unread_initializers.push_back(*constant);
      }
    }
    for (const auto& info : view.graphs()) {
      auto* nodes = info->graph->mutable_node();
      for (int i = nodes->size() - 1; i >= 0; --i) {
        if (removed.contains(&nodes->Get(i))) nodes->DeleteSubrange(i, 1);
      }
    }
    for (const ConstantValue& constant : unread_initializers) {
      onnx::GraphProto& graph = *constant.graph->graph;
      const std::string name = constant.tensor->name();
      auto* inits = graph.mutable_initializer();
      for (int i = 0; i < inits->size(); ++i) {
        if (&inits->Get(i) == constant.tensor) {
          inits->DeleteSubrange(i, 1);
          ++initializers_removed_;
          break;
        }
      }
      if (constant.listed_as_input) RemoveGraphInput(graph, name);
    }
  }

  ConstantOptions options_;
  int64_t opset_ = 1;

  InitializersAsInputsOption initializers_as_inputs_{this};

  // Statistics, reported in this order.
  PassStatistic weights_not_folded_{this, "weights-not-folded", "computed weights not folded (with a remark)"};
  PassStatistic weights_folded_{this, "weights-folded", "computed weights folded into an initializer"};
  PassStatistic nodes_folded_{this, "nodes-folded", "nodes evaluated into constants"};
  PassStatistic initializers_removed_{this, "initializers-removed", "initializers nothing reads any more"};
};

}  // namespace

std::unique_ptr<Pass> CreateFoldConvTransposeWeightsPass() {
  return std::make_unique<FoldConvTransposeWeightsPass>();
}

}  // namespace tflayout
