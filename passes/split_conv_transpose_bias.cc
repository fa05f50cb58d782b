#include "passes/split_conv_transpose_bias.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

struct Candidate {
  onnx::GraphProto* graph;
  onnx::NodeProto* node;
};

class SplitConvTransposeBiasPass : public Pass {
 public:
  std::string Name() const override { return "split-conv-transpose-bias"; }
  std::string Summary() const override {
    return "Move a ConvTranspose bias into an explicit Add after the node (onnx2tf drops the "
           "bias of 3-D ConvTranspose)";
  }
  std::vector<PassOptionSpec> OptionSpecs() const override {
    return {{"ranks", "3", {"3", "all"},
             "3: only nodes with 3 spatial axes (what onnx2tf needs); all: every node"}};
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    const bool all_ranks = Option("ranks") == "all";
    std::vector<Candidate> candidates;
    {
      GraphView view(context.model);
      for (const auto& info : view.graphs()) {
        for (onnx::NodeProto& node : *info->graph->mutable_node()) {
          if (!IsOnnxConvTranspose(node) || node.input_size() < 3 || node.input(2).empty()) continue;
          candidates.push_back({info->graph, &node});
        }
      }
    }
    bool changed = false;
    for (const Candidate& candidate : candidates) {
      GraphView view(context.model);  // fresh: earlier splits added values
      TFL_ASSIGN_OR_RETURN(bool split, Split(context, view, candidate, all_ranks));
      changed |= split;
    }
    return changed;
  }

 private:
  absl::StatusOr<bool> Split(PassContext& context, GraphView& view, const Candidate& candidate,
                             bool all_ranks) {
    onnx::NodeProto& node = *candidate.node;
    absl::StatusOr<ConstantValue> weight = FindConstant(view, node.input(1));
    const onnx::TensorProto* weight_tensor = weight.ok() ? weight->tensor : nullptr;
    if (weight_tensor == nullptr) return false;  // rank unknown: nothing to decide on
    const int rank = weight_tensor->dims_size();
    if (rank < 3 || (!all_ranks && rank != 5)) return false;

    const std::string bias_name = node.input(2);
    absl::StatusOr<ConstantValue> bias = FindConstant(view, bias_name);
    if (!bias.ok()) {
      context.AddRemark(Name(), node.name(), bias_name,
                        absl::StrCat("bias kept in the node: ", bias.status().message()));
      return false;
    }
    const onnx::TensorProto& b = *bias->tensor;
    if (StorageOf(b) == TensorStorage::kExternal || b.dims_size() != 1) {
      context.AddRemark(Name(), node.name(), bias_name,
                        "bias kept in the node: not a 1-D tensor stored in the model file");
      return false;
    }
    absl::StatusOr<std::string> bytes = ReadElementBytes(b);
    if (!bytes.ok()) {
      if (!absl::IsUnimplemented(bytes.status())) return bytes.status();
      context.AddRemark(Name(), node.name(), bias_name,
                        absl::StrCat("bias kept in the node: ", bytes.status().message()));
      return false;
    }

    // (1, M, 1, ..., 1): the activation's rank, the bias's bytes.
    onnx::TensorProto broadcast;
    broadcast.set_name(view.UniqueName(absl::StrCat(bias_name, "__bias")));
    broadcast.set_data_type(b.data_type());
    broadcast.add_dims(1);
    broadcast.add_dims(b.dims(0));
    for (int i = 2; i < rank; ++i) broadcast.add_dims(1);
    SetRawData(broadcast, *std::move(bytes));
    const std::string broadcast_name = broadcast.name();
    *candidate.graph->add_initializer() = std::move(broadcast);

    const std::string output = node.output(0);
    const std::string unbiased = view.UniqueName(absl::StrCat(output, "__no_bias"));
    node.mutable_input()->RemoveLast();
    *node.mutable_output(0) = unbiased;
    onnx::NodeProto add;
    add.set_name(view.UniqueName(absl::StrCat(node.name(), "__bias_add")));
    add.set_op_type("Add");
    add.add_input(unbiased);
    add.add_input(broadcast_name);
    add.add_output(output);
    InsertNode(*candidate.graph, NodeIndex(*candidate.graph, &node) + 1, std::move(add));
    context.Count("biases-split");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateSplitConvTransposeBiasPass() {
  return std::make_unique<SplitConvTransposeBiasPass>();
}

}  // namespace tflayout
