#include "passes/conv_transpose_to_tf.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

struct Reader {
  const GraphInfo* graph;
  onnx::NodeProto* node;
};

// A ConvTranspose reader of one weight, with its attributes and what the rewrite does to it.
struct PlannedReader {
  Reader reader;
  ConvTransposeAttrs attrs;
  bool pads_resolved = false;
  bool to_custom_op = false;
};

class ConvTransposeToTfPass : public Pass {
 public:
  std::string Name() const override { return "conv-transpose-to-tf"; }
  std::string Summary() const override {
    return "Store constant ConvTranspose weights in TensorFlow layout (k..., M/group, C) and "
           "annotate the graph";
  }
  std::vector<PassOptionSpec> OptionSpecs() const override {
    return {{"form", kFormCompensate, {kFormCompensate, kFormCustomOp},
             "compensate: keep valid ONNX with a Transpose back to ONNX layout; custom-op: "
             "rewrite nodes to tflayout.ConvTransposeTF reading the TF-layout weight"},
            {kInitializersAsInputsOption, "auto", {"auto", "constant"},
             "auto: an initializer listed as a graph input is a constant below IR 4 and an "
             "overridable default (left alone) from IR 4; constant: treat it as a constant at "
             "any IR and drop it from the graph inputs"}};
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    custom_op_ = Option("form") == kFormCustomOp;
    constant_options_.initializer_inputs_are_constant =
        Option(kInitializersAsInputsOption) == "constant";
    shapes_.reset();
    GraphView view(context.model);

    // Weights in first-use order, each with every ConvTranspose that reads it. Weights that
    // custom ops read are counted as already in TF layout.
    std::vector<std::string> weights;
    absl::flat_hash_map<std::string, std::vector<Reader>> readers;
    absl::flat_hash_set<std::string> custom_op_weights;
    for (const auto& info : view.graphs()) {
      for (onnx::NodeProto& node : *info->graph->mutable_node()) {
        if (node.input_size() < 2 || node.input(1).empty()) continue;
        if (IsCustomConvTranspose(node)) custom_op_weights.insert(node.input(1));
        if (!IsOnnxConvTranspose(node)) continue;
        auto& list = readers[node.input(1)];
        if (list.empty()) weights.push_back(node.input(1));
        list.push_back({info.get(), &node});
      }
    }
    int64_t read_only_by_custom_ops = 0;
    for (const std::string& weight : custom_op_weights) {
      if (!readers.contains(weight)) ++read_only_by_custom_ops;
    }
    // Always set, so that reports say "0 of 0" rather than nothing.
    context.Count("conv-transpose-weights",
                  static_cast<int64_t>(weights.size()) + read_only_by_custom_ops);
    context.Count("weights-rewritten", 0);
    context.Count("weights-left-alone", 0);
    context.Count("weights-already-tf", read_only_by_custom_ops);

    bool changed = false;
    for (const std::string& weight : weights) {
      absl::StatusOr<ConstantValue> constant = FindConstant(view, weight, constant_options_);
      if (!constant.ok()) {
        if (IsOwnTranspose(view, weight, context.annotation)) {
          context.Count("weights-already-tf");
        } else {
          LeaveAlone(context, view, weight, readers[weight], constant.status());
        }
        continue;
      }
      TFL_ASSIGN_OR_RETURN(bool rewritten,
                           RewriteWeight(context, view, weight, *constant, readers[weight]));
      changed |= rewritten;
    }
    return changed;
  }

 private:
  static constexpr char kInitializersAsInputsOption[] = "initializers-as-inputs";

  // Records why a weight stays in ONNX layout, with the way out where there is one.
  void LeaveAlone(PassContext& context, const GraphView& view, const std::string& weight,
                  const std::vector<Reader>& readers, const absl::Status& why) {
    std::string message = absl::StrCat("weight left alone: ", why.message());
    if (IsInitializerListedAsInput(view, weight)) {
      absl::StrAppend(&message, "; to treat it as a constant, run conv-transpose-to-tf{",
                      kInitializersAsInputsOption,
                      "=constant} or the remove-initializers-from-inputs pass before it");
    }
    context.AddRemark(Name(), readers.front().node->name(), weight, message);
    context.Count("weights-left-alone");
  }

  static bool IsInitializerListedAsInput(const GraphView& view, const std::string& name) {
    bool initializer = false, input = false;
    for (const GraphView::Definition& def : view.Definitions(name)) {
      initializer |= def.kind == GraphView::Definition::Kind::kInitializer;
      input |= def.kind == GraphView::Definition::Kind::kGraphInput;
    }
    return initializer && input;
  }

  // True when `name` is the ONNX view that an earlier run created: Transpose(<annotated>).
  static bool IsOwnTranspose(const GraphView& view, const std::string& name,
                             const Annotation& annotation) {
    const auto& defs = view.Definitions(name);
    if (defs.size() != 1 || defs[0].node == nullptr || defs[0].node->op_type() != "Transpose") {
      return false;
    }
    for (const RewrittenTensor& entry : annotation.tensors()) {
      if (entry.tensor() == defs[0].node->input(0) && entry.source() == name) return true;
    }
    return false;
  }

  const absl::flat_hash_map<std::string, std::vector<int64_t>>& Shapes(PassContext& context) {
    if (!shapes_) shapes_ = InferValueShapes(context.model);
    return *shapes_;
  }

  // Resolves the reader's pads from the input's inferred shape; false when it cannot.
  bool TryResolvePads(PassContext& context, PlannedReader& planned) {
    if (planned.attrs.PadsAreExplicit()) return ResolvePads(planned.attrs, {}).ok();
    const auto& shapes = Shapes(context);
    auto it = shapes.find(planned.reader.node->input(0));
    std::vector<int64_t> spatial;
    if (it != shapes.end() && it->second.size() == planned.attrs.spatial_rank + 2u) {
      spatial.assign(it->second.begin() + 2, it->second.end());
    }
    ConvTransposeAttrs resolved = planned.attrs;
    absl::Status st = spatial.empty()
                          ? absl::FailedPreconditionError("the input's shape is unknown")
                          : ResolvePads(resolved, spatial);
    if (!st.ok()) {
      context.AddRemark(Name(), planned.reader.node->name(), planned.reader.node->input(1),
                        absl::StrCat("pads not resolved: ", st.message()));
      return false;
    }
    planned.attrs = std::move(resolved);
    return true;
  }

  absl::StatusOr<bool> RewriteWeight(PassContext& context, GraphView& view,
                                     const std::string& weight, const ConstantValue& constant,
                                     const std::vector<Reader>& readers) {
    onnx::TensorProto& tensor = *constant.tensor;
    const std::vector<int64_t> onnx_dims(tensor.dims().begin(), tensor.dims().end());

    // Check everything before changing anything.
    std::vector<PlannedReader> plan;
    for (const Reader& reader : readers) {
      auto attrs = ReadConvTransposeAttrs(*reader.node, onnx_dims);
      if (!attrs.ok()) return attrs.status();
      plan.push_back({reader, *std::move(attrs)});
    }
    absl::StatusOr<MutableSlots> slots = context.WeightSlots(tensor);
    if (absl::IsUnimplemented(slots.status())) {
      LeaveAlone(context, view, weight, readers, slots.status());
      return false;
    }
    if (!slots.ok()) {
      return WithContext(slots.status(),
                         absl::StrCat("node '", readers.front().node->name(), "'"));
    }
    for (PlannedReader& planned : plan) {
      onnx::NodeProto& node = *planned.reader.node;
      if (node.name().empty()) node.set_name(view.UniqueName(node.op_type()));  // annotations name nodes
      planned.pads_resolved = TryResolvePads(context, planned);
      planned.to_custom_op = custom_op_ && planned.pads_resolved;
    }

    // Move the data: (C, M/g, S) -> (S, M/g, C).
    int64_t kernel_elements = 1;
    for (size_t i = 2; i < onnx_dims.size(); ++i) kernel_elements *= onnx_dims[i];
    PermuteOptions permute_options;
    permute_options.num_threads = context.num_threads;
    const int64_t a = onnx_dims[0], b = onnx_dims[1];
    TFL_RETURN_IF_ERROR(context.RewriteSlots(
        tensor, *slots, [=](const MutableSlots& s) {
          return PermuteABSToSBA(s.data, s.slot_size, a, b, kernel_elements, permute_options);
        }));
    const int rank = static_cast<int>(onnx_dims.size());
    const std::vector<int64_t> perm = OnnxToTfPerm(rank);
    std::vector<int64_t> tf_dims;
    for (int64_t axis : perm) tf_dims.push_back(onnx_dims[axis]);
    tensor.clear_dims();
    for (int64_t d : tf_dims) tensor.add_dims(d);

    // Rename: the TF-layout tensor never carries the ONNX-layout name.
    const std::string tf_name = view.UniqueName(absl::StrCat(weight, "__tf"));
    if (constant.constant_node != nullptr) {
      *constant.constant_node->mutable_output(0) = tf_name;  // the value's own name is unused
    } else {
      tensor.set_name(tf_name);
    }
    if (constant.listed_as_input) UpdateInputEntry(view, *constant.graph->graph, weight, tensor);

    absl::flat_hash_set<const onnx::NodeProto*> converted;
    for (PlannedReader& planned : plan) {
      if (planned.to_custom_op) {
        ConvertToCustomOp(planned, tf_name);
        converted.insert(planned.reader.node);
      }
    }
    bool onnx_view_needed = false;
    for (const GraphView::Use& use : view.Uses(weight)) {
      if (use.node == nullptr || !converted.contains(use.node)) onnx_view_needed = true;
    }
    if (onnx_view_needed) {
      onnx::NodeProto transpose;
      transpose.set_name(view.UniqueName(absl::StrCat(weight, "__to_onnx")));
      transpose.set_op_type("Transpose");
      transpose.add_input(tf_name);
      transpose.add_output(weight);
      SetIntsAttribute(transpose, "perm", TfToOnnxPerm(rank));
      onnx::GraphProto& graph = *constant.graph->graph;
      const int index =
          constant.constant_node ? NodeIndex(graph, constant.constant_node) + 1 : 0;
      InsertNode(graph, index, std::move(transpose));
      context.Count("transposes-inserted");
    }
    if (!converted.empty()) EnsureCustomOpset(context.model);

    for (const PlannedReader& planned : plan) {
      RewrittenTensor* entry = context.annotation.add_tensors();
      entry->set_tensor(tf_name);
      entry->set_source(weight);
      entry->set_node(planned.reader.node->name());
      for (int64_t p : perm) entry->add_perm(p);
      for (int64_t d : onnx_dims) entry->add_onnx_dims(d);
      for (int64_t d : tf_dims) entry->add_tf_dims(d);
      entry->set_form(planned.to_custom_op ? kFormCustomOp : kFormCompensate);
      entry->set_graph(planned.reader.graph->path);
      entry->set_storage(constant.constant_node ? "constant" : "initializer");
      entry->set_data_type(tensor.data_type());
      FillTfSettings(planned, *entry->mutable_tf());
    }
    context.Count("weights-rewritten");
    context.Count("nodes-annotated", static_cast<int64_t>(plan.size()));
    context.Count("custom-ops-created", static_cast<int64_t>(converted.size()));
    context.Count("bytes-permuted",
                  static_cast<int64_t>(slots->slot_size) * static_cast<int64_t>(slots->count));
    return true;
  }

  // Below IR 4 the TF-layout initializer takes the old entry's place in the graph inputs
  // (every initializer must be listed); from IR 4 on, the user asked for it to be a constant,
  // so it is no longer an input.
  static void UpdateInputEntry(const GraphView& view, onnx::GraphProto& graph,
                               const std::string& old_name, const onnx::TensorProto& tensor) {
    if (view.ir_version() < kFirstIrWithOptionalInitializerInputs) {
      RetypeInitializerInput(graph, old_name, tensor);
    } else {
      RemoveGraphInput(graph, old_name);
    }
  }

  static void FillTfSettings(const PlannedReader& planned, TfConvSettings& tf) {
    const ConvTransposeAttrs& a = planned.attrs;
    tf.mutable_strides()->Add(a.strides.begin(), a.strides.end());
    tf.mutable_dilations()->Add(a.dilations.begin(), a.dilations.end());
    tf.mutable_output_padding()->Add(a.output_padding.begin(), a.output_padding.end());
    tf.set_group(a.group);
    tf.set_pads_resolved(planned.pads_resolved);
    if (planned.pads_resolved) {
      tf.mutable_pads_begin()->Add(a.pads_begin.begin(), a.pads_begin.end());
      tf.mutable_pads_end()->Add(a.pads_end.begin(), a.pads_end.end());
    } else {
      tf.set_auto_pad(a.auto_pad);
      tf.mutable_output_shape()->Add(a.output_shape.begin(), a.output_shape.end());
    }
  }

  static void ConvertToCustomOp(const PlannedReader& planned, const std::string& tf_name) {
    onnx::NodeProto& node = *planned.reader.node;
    const ConvTransposeAttrs& a = planned.attrs;
    node.set_op_type(kCustomOpType);
    node.set_domain(kCustomDomain);
    *node.mutable_input(1) = tf_name;
    WriteExplicitPads(a, node);
    SetIntsAttribute(node, "kernel_shape", a.kernel_shape);
    SetIntsAttribute(node, "strides", a.strides);
    SetIntsAttribute(node, "dilations", a.dilations);
    SetIntsAttribute(node, "output_padding", a.output_padding);
    SetIntAttribute(node, "group", a.group);
  }

  static void EnsureCustomOpset(onnx::ModelProto& model) {
    for (const onnx::OperatorSetIdProto& op : model.opset_import()) {
      if (op.domain() == kCustomDomain) return;
    }
    onnx::OperatorSetIdProto* op = model.add_opset_import();
    op->set_domain(kCustomDomain);
    op->set_version(kCustomOpsetVersion);
  }

  bool custom_op_ = false;
  ConstantOptions constant_options_;
  std::optional<absl::flat_hash_map<std::string, std::vector<int64_t>>> shapes_;
};

}  // namespace

std::unique_ptr<Pass> CreateConvTransposeToTfPass() {
  return std::make_unique<ConvTransposeToTfPass>();
}

}  // namespace tflayout
