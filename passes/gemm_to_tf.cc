#include "passes/gemm_to_tf.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "passes/common/weight_layout_statistics.h"
#include "passes/common/weight_pass_options.h"
#include "tflayout/annotation.h"
#include "tflayout/graph_view.h"
#include "tflayout/node_util.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

constexpr char kOpType[] = "Gemm";
constexpr int kWeightInput = 1;  // B

int64_t TransB(const onnx::NodeProto& node) { return IntAttribute(node, "transB", 0); }

class GemmToTfPass : public Pass {
 public:
  std::string Name() const override { return "gemm-to-tf"; }
  std::string Summary() const override {
    return "Store constant Gemm B operands in TensorFlow/Keras Dense layout (K, N) with "
           "transB=0";
  }
  bool ReportsWeightLayout() const override { return true; }

  absl::StatusOr<bool> Run(PassContext& context) override {
    constant_options_ = initializers_as_inputs_.constant_options();
    report_ = WeightLayoutReport{};
    report_.op_type = kOpType;
    GraphView view(context.model);
    bool changed = false;
    for (const OperatorWeight& weight : OperatorWeights(view, kOpType, kWeightInput)) {
      TFL_ASSIGN_OR_RETURN(bool rewritten, Consider(context, view, weight));
      changed |= rewritten;
    }
    statistics_.Add(report_);
    context.weight_layout = report_;
    return changed;
  }

 private:
  absl::StatusOr<bool> Consider(PassContext& context, GraphView& view,
                                const OperatorWeight& weight) {
    ++report_.weights;
    int transposed_readers = 0;
    for (const WeightReader& reader : weight.readers) transposed_readers += TransB(*reader.node) != 0;
    if (transposed_readers == 0) {
      ++report_.already_tf;
      return false;
    }
    absl::Status why = CheckRewritable(view, weight, transposed_readers);
    if (!why.ok()) {
      LeaveAlone(context, weight, why);
      return false;
    }
    return Rewrite(context, view, weight);
  }

  absl::Status CheckRewritable(const GraphView& view, const OperatorWeight& weight,
                               int transposed_readers) const {
    if (transposed_readers != static_cast<int>(weight.readers.size())) {
      return absl::FailedPreconditionError(
          "Gemm nodes read the weight both with transB=1 and with transB=0");
    }
    absl::StatusOr<ConstantValue> constant = FindConstant(view, weight.name, constant_options_);
    if (!constant.ok()) return constant.status();
    if (constant->tensor->dims_size() != 2) {
      return absl::FailedPreconditionError(
          absl::StrCat("weight has rank ", constant->tensor->dims_size(), ", not 2"));
    }
    for (const GraphView::Use& use : view.Uses(weight.name)) {
      if (use.node == nullptr) {
        return absl::FailedPreconditionError("the weight is also a graph output");
      }
      if (!IsOnnxOp(*use.node, kOpType) || use.input_index != kWeightInput) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the weight is also read by ", use.node->op_type(), " '", use.node->name(), "'"));
      }
    }
    return absl::OkStatus();
  }

  void LeaveAlone(PassContext& context, const OperatorWeight& weight, const absl::Status& why) {
    context.AddRemark(Name(), weight.readers.front().node->name(), weight.name,
                      absl::StrCat("weight left alone: ", why.message()));
    ++report_.left_alone;
  }

  absl::StatusOr<bool> Rewrite(PassContext& context, GraphView& view,
                               const OperatorWeight& weight) {
    TFL_ASSIGN_OR_RETURN(ConstantValue constant,
                         FindConstant(view, weight.name, constant_options_));
    onnx::TensorProto& tensor = *constant.tensor;
    absl::StatusOr<MutableSlots> slots = context.WeightSlots(tensor);
    if (absl::IsUnimplemented(slots.status())) {
      LeaveAlone(context, weight, slots.status());
      return false;
    }
    if (!slots.ok()) {
      return WithContext(slots.status(),
                         absl::StrCat("node '", weight.readers.front().node->name(), "'"));
    }
    const int64_t n = tensor.dims(0), k = tensor.dims(1);
    PermuteOptions options;
    options.num_threads = context.num_threads;
    // (N, K, 1) -> (1, K, N): the kernel's (A, B, S) -> (S, B, A) with S = 1.
    TFL_RETURN_IF_ERROR(context.PermuteSlots(tensor, *slots, {n, k, 1, options}));
    tensor.set_dims(0, k);
    tensor.set_dims(1, n);

    // The tensor changes meaning, so it changes name: a reader still expecting (N, K) fails
    // loudly instead of computing with the wrong layout.
    const std::string tf_name = view.UniqueName(absl::StrCat(weight.name, "__tf"));
    if (constant.constant_node != nullptr) {
      *constant.constant_node->mutable_output(0) = tf_name;
    } else {
      tensor.set_name(tf_name);
      if (constant.listed_as_input) {
        if (view.ir_version() < kFirstIrWithOptionalInitializerInputs) {
          RetypeInitializerInput(*constant.graph->graph, weight.name, tensor);
        } else {
          RemoveGraphInput(*constant.graph->graph, weight.name);
        }
      }
    }
    for (const WeightReader& reader : weight.readers) {
      onnx::NodeProto& node = *reader.node;
      *node.mutable_input(kWeightInput) = tf_name;
      SetIntAttribute(node, "transB", 0);
      if (node.name().empty()) node.set_name(view.UniqueName(node.op_type()));
      Record(context.annotation, weight.name, tf_name, node, *reader.graph, constant, {n, k});
    }
    ++report_.rewritten;
    report_.nodes += static_cast<int64_t>(weight.readers.size());
    report_.bytes += static_cast<int64_t>(slots->slot_size) * static_cast<int64_t>(slots->count);
    return true;
  }

  static void Record(Annotation& annotation, const std::string& source, const std::string& tf_name,
                     const onnx::NodeProto& node, const GraphInfo& graph,
                     const ConstantValue& constant, const std::vector<int64_t>& onnx_dims) {
    RewrittenTensor* entry = annotation.add_tensors();
    entry->set_tensor(tf_name);
    entry->set_source(source);
    entry->set_node(node.name());
    entry->set_op_type(kOpType);
    entry->add_perm(1);
    entry->add_perm(0);
    for (int64_t d : onnx_dims) entry->add_onnx_dims(d);
    entry->add_tf_dims(onnx_dims[1]);
    entry->add_tf_dims(onnx_dims[0]);
    entry->set_form(kFormStandard);
    entry->set_graph(graph.path);
    entry->set_storage(constant.constant_node ? "constant" : "initializer");
    entry->set_data_type(constant.tensor->data_type());
  }

  ConstantOptions constant_options_;
  WeightLayoutReport report_;

  InitializersAsInputsOption initializers_as_inputs_{this};

  // Statistics, reported in this order.
  WeightLayoutStatistics statistics_{this, "gemm-weights", "distinct weights Gemm nodes read as B",
                                     "weights already in TF layout (transB=0)"};
};

}  // namespace

std::unique_ptr<Pass> CreateGemmToTfPass() { return std::make_unique<GemmToTfPass>(); }

}  // namespace tflayout
