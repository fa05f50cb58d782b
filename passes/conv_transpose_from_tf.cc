#include "passes/conv_transpose_from_tf.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

class ConvTransposeFromTfPass : public Pass {
 public:
  std::string Name() const override { return "conv-transpose-from-tf"; }
  std::string Summary() const override {
    return "Undo conv-transpose-to-tf: weights back to ONNX layout (bit for bit), custom ops "
           "back to ConvTranspose";
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    std::vector<std::string> tensors;  // first-appearance order
    for (const RewrittenTensor& entry : context.annotation.tensors()) {
      if (std::find(tensors.begin(), tensors.end(), entry.tensor()) == tensors.end()) {
        tensors.push_back(entry.tensor());
      }
    }
    for (const std::string& name : tensors) {
      TFL_RETURN_IF_ERROR(Restore(context, name));
    }
    if (!tensors.empty()) RemoveCustomOpsetIfUnused(context.model);
    return !tensors.empty();
  }

 private:
  absl::Status Restore(PassContext& context, const std::string& tf_name) {
    const RewrittenTensor* entry = nullptr;
    for (const RewrittenTensor& e : context.annotation.tensors()) {
      if (e.tensor() == tf_name) entry = &e;
    }
    const std::string source = entry->source();
    const std::vector<int64_t> onnx_dims(entry->onnx_dims().begin(), entry->onnx_dims().end());
    const std::vector<int64_t> tf_dims(entry->tf_dims().begin(), entry->tf_dims().end());

    GraphView view(context.model);  // fresh: the previous tensor's edits removed nodes
    TFL_ASSIGN_OR_RETURN(ConstantValue constant, FindConstant(view, tf_name));
    onnx::TensorProto& tensor = *constant.tensor;
    if (!std::equal(tensor.dims().begin(), tensor.dims().end(), tf_dims.begin(), tf_dims.end()) ||
        onnx_dims.size() < 3) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", tf_name, "' has dims [", absl::StrJoin(tensor.dims(), ","),
          "] but the annotation records TF dims [", absl::StrJoin(tf_dims, ","), "]"));
    }
    TFL_ASSIGN_OR_RETURN(MutableSlots slots, context.WeightSlots(tensor));
    int64_t kernel_elements = 1;
    for (size_t i = 2; i < onnx_dims.size(); ++i) kernel_elements *= onnx_dims[i];
    PermuteOptions options;
    options.num_threads = context.num_threads;
    // (S, M/g, C) -> (C, M/g, S)
    const int64_t m = onnx_dims[1], c = onnx_dims[0];
    TFL_RETURN_IF_ERROR(context.RewriteSlots(tensor, slots, [=](const MutableSlots& s) {
      return PermuteABSToSBA(s.data, s.slot_size, kernel_elements, m, c, options);
    }));
    tensor.clear_dims();
    for (int64_t d : onnx_dims) tensor.add_dims(d);

    // Readers of the TF tensor: our Transpose (dropped) and custom ops (back to ConvTranspose).
    for (const GraphView::Use& use : view.Uses(tf_name)) {
      if (use.node == nullptr) continue;
      if (IsCustomConvTranspose(*use.node)) {
        use.node->set_op_type("ConvTranspose");
        use.node->set_domain("");
        *use.node->mutable_input(1) = source;
      }
    }
    for (const GraphView::Use& use : view.Uses(tf_name)) {
      if (use.node != nullptr && use.node->op_type() == "Transpose" &&
          use.node->output(0) == source) {
        onnx::GraphProto& graph = *use.graph->graph;
        graph.mutable_node()->DeleteSubrange(NodeIndex(graph, use.node), 1);
        break;
      }
    }
    if (constant.constant_node != nullptr) {
      *constant.constant_node->mutable_output(0) = source;
    } else {
      tensor.set_name(source);
      // Below IR 4 the TF-layout initializer was listed as a graph input in the original's place.
      if (constant.listed_as_input) RetypeInitializerInput(*constant.graph->graph, tf_name, tensor);
    }

    auto* entries = context.annotation.mutable_tensors();
    for (int i = entries->size() - 1; i >= 0; --i) {
      if (entries->Get(i).tensor() == tf_name) entries->DeleteSubrange(i, 1);
    }
    context.Count("weights-restored");
    context.Count("bytes-permuted", static_cast<int64_t>(slots.slot_size) * slots.count);
    return absl::OkStatus();
  }

  static void RemoveCustomOpsetIfUnused(onnx::ModelProto& model) {
    GraphView view(model);
    for (const auto& info : view.graphs()) {
      for (const onnx::NodeProto& node : info->graph->node()) {
        if (node.domain() == kCustomDomain) return;
      }
    }
    auto* ops = model.mutable_opset_import();
    for (int i = ops->size() - 1; i >= 0; --i) {
      if (ops->Get(i).domain() == kCustomDomain) ops->DeleteSubrange(i, 1);
    }
  }
};

}  // namespace

std::unique_ptr<Pass> CreateConvTransposeFromTfPass() {
  return std::make_unique<ConvTransposeFromTfPass>();
}

}  // namespace tflayout
