#include "passes/split_conv_transpose_bias.h"

#include <cstring>
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

// The little-endian bytes of 1 in a floating-point element type, or "" for other types.
std::string OneBytes(int32_t data_type) {
  switch (data_type) {
    case onnx::TensorProto::FLOAT: {
      const float one = 1.0f;
      return std::string(reinterpret_cast<const char*>(&one), sizeof(one));
    }
    case onnx::TensorProto::DOUBLE: {
      const double one = 1.0;
      return std::string(reinterpret_cast<const char*>(&one), sizeof(one));
    }
    case onnx::TensorProto::FLOAT16:
      return std::string("\x00\x3c", 2);
    default:
      return "";
  }
}

// A (M) tensor whose every element holds `value_bytes`.
onnx::TensorProto Filled(const std::string& name, int32_t data_type, int64_t channels,
                         const std::string& value_bytes) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(data_type);
  tensor.add_dims(channels);
  std::string bytes;
  bytes.reserve(static_cast<size_t>(channels) * value_bytes.size());
  for (int64_t m = 0; m < channels; ++m) bytes += value_bytes;
  SetRawData(tensor, std::move(bytes));
  return tensor;
}

class SplitConvTransposeBiasPass : public Pass {
 public:
  std::string Name() const override { return "split-conv-transpose-bias"; }
  std::string Summary() const override {
    return "Move the bias of a 3-D ungrouped ConvTranspose into a BatchNormalization that only "
           "adds it (onnx2tf drops that bias)";
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
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
      TFL_ASSIGN_OR_RETURN(bool split, Split(context, view, candidate));
      changed |= split;
    }
    return changed;
  }

 private:
  absl::StatusOr<bool> Split(PassContext& context, GraphView& view, const Candidate& candidate) {
    onnx::NodeProto& node = *candidate.node;
    absl::StatusOr<ConstantValue> weight = FindConstant(view, node.input(1));
    if (!weight.ok() || weight->tensor->dims_size() != 5) return false;
    const std::vector<int64_t> dims(weight->tensor->dims().begin(), weight->tensor->dims().end());
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, dims));
    if (attrs.group != 1) return false;  // onnx2tf adds grouped 3-D biases itself

    const std::string bias = node.input(2);
    const int32_t data_type = weight->tensor->data_type();
    const std::string one = OneBytes(data_type);
    const int64_t channels = dims[1];
    auto keep = [&](const std::string& why) {
      context.AddRemark(Name(), node.name(), bias, absl::StrCat("bias kept in the node: ", why));
      return false;
    };
    if (one.empty()) {
      return keep(absl::StrCat("element type ", DataTypeName(data_type), " is not floating point"));
    }
    // BatchNormalization-7 and -8 compute the same per-channel add (their `spatial` defaults
    // to 1); before 7 it has `is_test` and different semantics.
    if (DefaultDomainOpset(context.model) < 7) return keep("the model's opset is below 7");

    const bool list_as_inputs = view.ir_version() < kFirstIrWithOptionalInitializerInputs &&
                                candidate.graph == context.model.mutable_graph();
    // The statistics of a BatchNormalization that adds B and nothing else.
    const std::string zero(one.size(), '\0');
    std::vector<std::string> stats;
    for (const auto& [suffix, value] : {std::pair<const char*, const std::string*>{"__ones", &one},
                                        {"__zeros", &zero}}) {
      onnx::TensorProto t =
          Filled(view.UniqueName(absl::StrCat(bias, suffix)), data_type, channels, *value);
      stats.push_back(t.name());
      // Below IR 4 every initializer of the main graph is also listed as a graph input.
      if (list_as_inputs) AddInitializerInput(*candidate.graph, t);
      *candidate.graph->add_initializer() = std::move(t);
    }
    const std::string& ones = stats[0];
    const std::string& zeros = stats[1];

    const std::string output = node.output(0);
    const std::string unbiased = view.UniqueName(absl::StrCat(output, "__no_bias"));
    node.mutable_input()->RemoveLast();
    *node.mutable_output(0) = unbiased;
    onnx::NodeProto add_bias;
    add_bias.set_name(view.UniqueName(absl::StrCat(node.name(), "__bias")));
    add_bias.set_op_type("BatchNormalization");
    for (const std::string& input : {unbiased, ones, bias, zeros, ones}) add_bias.add_input(input);
    add_bias.add_output(output);
    onnx::AttributeProto* epsilon = add_bias.add_attribute();
    epsilon->set_name("epsilon");
    epsilon->set_type(onnx::AttributeProto::FLOAT);
    epsilon->set_f(0.0f);
    InsertNode(*candidate.graph, NodeIndex(*candidate.graph, &node) + 1, std::move(add_bias));
    ++biases_split_;
    return true;
  }

  // Statistics, reported in this order.
  PassStatistic biases_split_{this, "biases-split", "ConvTranspose biases moved to an Add"};
};

}  // namespace

std::unique_ptr<Pass> CreateSplitConvTransposeBiasPass() {
  return std::make_unique<SplitConvTransposeBiasPass>();
}

}  // namespace tflayout
