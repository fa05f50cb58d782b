#include "passes/conv_transpose_from_tf.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

  // Shape inference reads small tensors' values.
  absl::Status DeclareWeightAccess(const PassContext& context,
                                   WeightAccess& access) const override {
    AppendShapeInferenceReads(context.model, access.read_whole);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    std::vector<std::string> tensors;  // first-appearance order
    std::vector<std::string> stored;   // constants behind Identity/Cast/DequantizeLinear chains
    for (const RewrittenTensor& entry : context.annotation.tensors()) {
      std::vector<std::string>& list = entry.stored().empty() ? tensors : stored;
      const std::string& name = entry.stored().empty() ? entry.tensor() : entry.stored();
      if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
    }
    for (const std::string& name : stored) TFL_RETURN_IF_ERROR(RestoreChain(context, name));
    for (const std::string& name : tensors) {
      // A weight that was also a chain's constant went back with the chain.
      if (std::find(stored.begin(), stored.end(), name) != stored.end()) continue;
      TFL_RETURN_IF_ERROR(Restore(context, name));
    }
    const bool changed = !tensors.empty() || !stored.empty();
    if (changed) RemoveCustomOpsetIfUnused(context.model);
    return changed;
  }

 private:
  // Undoes a rewrite through layout-transparent ops: the stored constant goes back to ONNX
  // layout, every renamed value gets its name back (the inserted Transposes go), a
  // DequantizeLinear its axis, custom ops become ConvTranspose again.
  absl::Status RestoreChain(PassContext& context, const std::string& stored) {
    absl::flat_hash_map<std::string, std::string> source_names;  // TF-layout name -> original
    absl::flat_hash_map<std::string, const LayoutChainOp*> ops;  // by TF-layout output
    const RewrittenTensor* first = nullptr;
    for (const RewrittenTensor& e : context.annotation.tensors()) {
      if (e.stored() != stored && !(e.stored().empty() && e.tensor() == stored)) continue;
      if (first == nullptr || first->stored().empty()) first = &e;
      source_names[e.tensor()] = e.source();
      for (const LayoutChainOp& op : e.chain()) {
        source_names[op.output()] = op.source_output();
        ops[op.output()] = &op;
      }
    }
    source_names[stored] = first->stored_source();
    TFL_RETURN_IF_ERROR(RestoreConstant(context, stored, first->stored_source(), *first));

    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      auto* nodes = info->graph->mutable_node();
      for (int i = nodes->size() - 1; i >= 0; --i) {
        onnx::NodeProto& node = *nodes->Mutable(i);
        auto source = node.input_size() == 1 ? source_names.find(node.input(0)) : source_names.end();
        if (node.op_type() == "Transpose" && source != source_names.end() &&
            node.output(0) == source->second) {
          nodes->DeleteSubrange(i, 1);
          continue;
        }
        for (std::string& input : *node.mutable_input()) {
          auto it = source_names.find(input);
          if (it != source_names.end()) input = it->second;
        }
        if (IsCustomConvTranspose(node) && node.input_size() >= 2) {
          const std::vector<int64_t> onnx_dims(first->onnx_dims().begin(),
                                               first->onnx_dims().end());
          TFL_RETURN_IF_ERROR(CustomToStandard(context, node, onnx_dims));
        }
        if (node.output_size() != 1) continue;
        auto op = ops.find(node.output(0));
        if (op == ops.end()) continue;
        *node.mutable_output(0) = op->second->source_output();
        if (op->second->per_axis()) SetIntAttribute(node, "axis", op->second->source_axis());
      }
    }
    auto* entries = context.annotation.mutable_tensors();
    for (int i = entries->size() - 1; i >= 0; --i) {
      if (entries->Get(i).stored() == stored || entries->Get(i).tensor() == stored) {
        entries->DeleteSubrange(i, 1);
      }
    }
    return absl::OkStatus();
  }

  // The stored constant back in ONNX layout under its original name ((S, M/g, C) -> (C, M/g, S);
  // a Gemm's (K, N) -> (N, K) is the case S = 1); below IR 4 its graph input entry follows.
  absl::Status RestoreConstant(PassContext& context, const std::string& tf_name,
                               const std::string& source, const RewrittenTensor& entry) {
    GraphView view(context.model);
    TFL_ASSIGN_OR_RETURN(ConstantValue constant, FindConstant(view, tf_name));
    onnx::TensorProto& tensor = *constant.tensor;
    const std::vector<int64_t> onnx_dims(entry.onnx_dims().begin(), entry.onnx_dims().end());
    const std::vector<int64_t> tf_dims(entry.tf_dims().begin(), entry.tf_dims().end());
    if (!std::equal(tensor.dims().begin(), tensor.dims().end(), tf_dims.begin(), tf_dims.end()) ||
        onnx_dims.size() < 2) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", tf_name, "' has dims [", absl::StrJoin(tensor.dims(), ","),
          "] but the annotation records TF dims [", absl::StrJoin(tf_dims, ","), "]"));
    }
    TFL_ASSIGN_OR_RETURN(MutableSlots slots, context.WeightSlots(tensor));
    int64_t kernel_elements = 1;
    for (size_t i = 2; i < onnx_dims.size(); ++i) kernel_elements *= onnx_dims[i];
    PermuteOptions options;
    options.num_threads = context.num_threads;
    const int64_t m = onnx_dims[1], c = onnx_dims[0];
    TFL_RETURN_IF_ERROR(context.PermuteSlots(tensor, slots, {kernel_elements, m, c, options}));
    tensor.clear_dims();
    for (int64_t d : onnx_dims) tensor.add_dims(d);
    if (constant.constant_node != nullptr) {
      *constant.constant_node->mutable_output(0) = source;
    } else {
      tensor.set_name(source);
      if (constant.listed_as_input) RetypeInitializerInput(*constant.graph->graph, tf_name, tensor);
    }
    ++weights_restored_;
    bytes_permuted_ += static_cast<int64_t>(slots.slot_size) * slots.count;
    return absl::OkStatus();
  }

  absl::Status Restore(PassContext& context, const std::string& tf_name) {
    const RewrittenTensor* entry = nullptr;
    for (const RewrittenTensor& e : context.annotation.tensors()) {
      if (e.tensor() == tf_name) entry = &e;
    }
    const std::string source = entry->source();
    const std::vector<int64_t> onnx_dims(entry->onnx_dims().begin(), entry->onnx_dims().end());
    TFL_RETURN_IF_ERROR(RestoreConstant(context, tf_name, source, *entry));

    // Readers of the TF tensor: our Transpose (dropped), custom ops (back to ConvTranspose or
    // Conv), Gemm nodes that read it directly (transB back to 1).
    GraphView view(context.model);  // fresh: the previous tensor's edits removed nodes
    for (const GraphView::Use& use : view.Uses(tf_name)) {
      if (use.node == nullptr) continue;
      if (IsCustomConvTranspose(*use.node)) {
        *use.node->mutable_input(1) = source;
        TFL_RETURN_IF_ERROR(CustomToStandard(context, *use.node, onnx_dims));
      } else if (IsCustomConv(*use.node) && use.input_index == 1) {
        *use.node->mutable_input(1) = source;
        CustomConvToStandard(context, *use.node);
      } else if (IsOnnxOp(*use.node, "Gemm") && use.input_index == 1) {
        *use.node->mutable_input(1) = source;
        SetIntAttribute(*use.node, "transB", 1);
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
    auto* entries = context.annotation.mutable_tensors();
    for (int i = entries->size() - 1; i >= 0; --i) {
      if (entries->Get(i).tensor() == tf_name) entries->DeleteSubrange(i, 1);
    }
    return absl::OkStatus();
  }

  // A custom op becomes a ConvTranspose with the same attributes (explicit pads), except that
  // an output_padding reaching the stride (an output_shape past the full result) is invalid in
  // a standard node and miscomputed by ONNX Runtime: it goes back into output_shape, which
  // needs the input's spatial dims.
  static absl::Status CustomToStandard(PassContext& context, onnx::NodeProto& node,
                                       const std::vector<int64_t>& weight_dims) {
    // A custom op hides the shapes downstream of it from ONNX's inference: once it is a
    // ConvTranspose again, inference must run afresh.
    context.analyses.Invalidate();
    node.set_op_type("ConvTranspose");
    node.set_domain("");
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, weight_dims));
    if (!OutputPaddingReachesStride(attrs)) return absl::OkStatus();
    const std::vector<int64_t> input_dims =
        context.analyses.Get<ValueShapes>(context.model).Dims(node.input(0));
    std::vector<int64_t> spatial;
    if (static_cast<int>(input_dims.size()) == attrs.spatial_rank + 2) {
      spatial.assign(input_dims.begin() + 2, input_dims.end());
    }
    auto form = OutputShapeFormOf(attrs, spatial);
    if (!form.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node '", node.name(), "' input '", node.input(0), "': output_padding [",
          absl::StrJoin(attrs.output_padding, ","), "] reaches the stride [",
          absl::StrJoin(attrs.strides, ","), "], which a standard ConvTranspose can only say "
          "with output_shape, and ", form.status().message()));
    }
    WriteOutputShapeForm(*form, node);
    return absl::OkStatus();
  }

  // conv-to-tf{form=custom-op} kept every attribute of the Conv as written: only the op
  // changes back.
  static void CustomConvToStandard(PassContext& context, onnx::NodeProto& node) {
    context.analyses.Invalidate();  // shapes downstream of the custom op are now inferable
    node.set_op_type("Conv");
    node.clear_domain();  // absent, as exporters write the default domain
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

  // Statistics, reported in this order.
  PassStatistic weights_restored_{this, "weights-restored", "weights restored to ONNX layout"};
  PassStatistic bytes_permuted_{this, "bytes-permuted", "bytes of weights permuted"};
};

}  // namespace

std::unique_ptr<Pass> CreateConvTransposeFromTfPass() {
  return std::make_unique<ConvTransposeFromTfPass>();
}

}  // namespace tflayout
