#include "passes/conv_transpose_to_tf.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tflayout/node_util.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "lib/ir/local_functions.h"
#include "passes/common/weight_pass_options.h"
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

// A weight, the constant it is computed from, and the layout-transparent ops between them.
struct TracedWeight {
  std::string weight;
  std::string root;
  ConstantValue constant;
  std::vector<onnx::NodeProto*> chain;  // from the root's reader to the weight's producer
  std::vector<Reader> readers;
};

// Ops whose output has the layout of their first input, element for element: applied to a
// TF-layout constant they compute the TF-layout value (DequantizeLinear with its axis
// renumbered).
bool IsLayoutTransparent(const onnx::NodeProto& node) {
  if (!IsOnnxDomain(node.domain())) return false;
  const std::string& op = node.op_type();
  return (op == "Identity" || op == "Cast" || op == "DequantizeLinear") &&
         node.input_size() >= 1 && !node.input(0).empty() && node.output_size() == 1;
}

// DequantizeLinear's axis attribute (default 1).
int64_t DequantizeAxis(const onnx::NodeProto& node) { return IntAttribute(node, "axis", 1); }

class ConvTransposeToTfPass : public Pass {
 public:
  std::string Name() const override { return "conv-transpose-to-tf"; }
  std::string Summary() const override {
    return "Store constant ConvTranspose weights in TensorFlow layout (k..., M/group, C) and "
           "annotate the graph";
  }
  // Shape inference reads small tensors' values.
  absl::Status DeclareWeightAccess(const PassContext& context,
                                   WeightAccess& access) const override {
    AppendShapeInferenceReads(context.model, access.read_whole);
    return absl::OkStatus();
  }

  bool ReportsWeightLayout() const override { return true; }

  absl::StatusOr<bool> Run(PassContext& context) override {
    absl::StatusOr<bool> changed = RewriteWeights(context);
    context.weight_layout = LayoutReport();
    return changed;
  }

 private:
  WeightLayoutReport LayoutReport() const {
    WeightLayoutReport report;
    report.op_type = "ConvTranspose";
    report.weights = conv_transpose_weights_.value();
    report.rewritten = weights_rewritten_.value();
    report.already_tf = weights_already_tf_.value();
    report.left_alone = weights_left_alone_.value();
    report.nodes = nodes_annotated_.value();
    report.bytes = bytes_permuted_.value();
    return report;
  }

  absl::StatusOr<bool> RewriteWeights(PassContext& context) {
    custom_op_ = *form_ == kFormCustomOp;
    constant_options_ = initializers_as_inputs_.constant_options();
    shapes_ = nullptr;
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
    conv_transpose_weights_ += static_cast<int64_t>(weights.size()) + read_only_by_custom_ops;
    weights_rewritten_ += 0;
    weights_left_alone_ += 0;
    weights_already_tf_ += read_only_by_custom_ops;
    CountFunctionBodyWeights(context);

    // Each weight traced back to its constant; weights sharing a constant are rewritten
    // together (torch's Identity for a shared parameter), in first-use order.
    std::vector<std::string> roots;
    absl::flat_hash_map<std::string, std::vector<TracedWeight>> by_root;
    for (const std::string& weight : weights) {
      absl::StatusOr<TracedWeight> traced = TraceToConstant(view, weight);
      if (!traced.ok()) {
        if (IsRecordedOnnxView(view, weight, context.annotation)) {
          ++weights_already_tf_;
        } else {
          LeaveAlone(context, view, weight, readers[weight], traced.status());
        }
        continue;
      }
      traced->readers = readers[weight];
      auto& group = by_root[traced->root];
      if (group.empty()) roots.push_back(traced->root);
      group.push_back(*std::move(traced));
    }

    bool changed = false;
    for (const std::string& root : roots) {
      TFL_ASSIGN_OR_RETURN(bool rewritten, RewriteGroup(context, view, root, by_root[root]));
      changed |= rewritten;
    }
    return changed;
  }

  // A ConvTranspose inside a local function's body reads its weight through a formal input,
  // bound at each call: it cannot be rewritten here. Each one the graphs reach counts as one
  // weight left alone per call that runs it, so that "rewrote N of M" stays true without the inlining pass.
  void CountFunctionBodyWeights(PassContext& context) {
    if (context.model.functions_size() == 0) return;
    LocalFunctions functions(context.model);
    for (const onnx::FunctionProto* function : functions.Reachable()) {
      const std::string label = FunctionLabel(*function);
      const int64_t instances = std::max<int64_t>(1, functions.Instances(*function));
      ForEachNodeDeep(function->node(), [&](const onnx::NodeProto& node) {
        if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || node.input(1).empty()) return;
        context.AddRemark(
            Name(), node.name(), node.input(1),
            absl::StrCat("weight left alone: ConvTranspose '", node.name(),
                         "' is inside local function '", label,
                         "': run inline-conv-transpose-functions before this pass"));
        // Every call binds its own weight.
        conv_transpose_weights_ += instances;
        weights_left_alone_ += instances;
      });
    }
  }

  // Records why a weight stays in ONNX layout, with the way out where there is one.
  void LeaveAlone(PassContext& context, const GraphView& view, const std::string& weight,
                  const std::vector<Reader>& readers, const absl::Status& why) {
    std::string message = absl::StrCat("weight left alone: ", why.message());
    if (IsInitializerListedAsInput(view, weight)) {
      absl::StrAppend(&message, "; to treat it as a constant, run conv-transpose-to-tf{",
                      initializers_as_inputs_.spec().name,
                      "=constant} or the remove-initializers-from-inputs pass before it");
    }
    context.AddRemark(Name(), readers.front().node->name(), weight, message);
    ++weights_left_alone_;
  }

  static bool IsInitializerListedAsInput(const GraphView& view, const std::string& name) {
    bool initializer = false, input = false;
    for (const GraphView::Definition& def : view.Definitions(name)) {
      initializer |= def.kind == GraphView::Definition::Kind::kInitializer;
      input |= def.kind == GraphView::Definition::Kind::kGraphInput;
    }
    return initializer && input;
  }

  const ValueShapes& Shapes(PassContext& context) {
    if (shapes_ == nullptr) shapes_ = &context.analyses.Get<ValueShapes>(context.model);
    return *shapes_;
  }

  // Resolves the reader's pads from the input's inferred shape; false when it cannot.
  bool TryResolvePads(PassContext& context, PlannedReader& planned) {
    if (planned.attrs.PadsAreExplicit()) return ResolvePads(planned.attrs, {}).ok();
    const std::vector<int64_t> input_dims = Shapes(context).Dims(planned.reader.node->input(0));
    std::vector<int64_t> spatial;
    if (input_dims.size() == planned.attrs.spatial_rank + 2u) {
      spatial.assign(input_dims.begin() + 2, input_dims.end());
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

  // Follows `weight` back through layout-transparent ops to a constant.
  absl::StatusOr<TracedWeight> TraceToConstant(const GraphView& view, const std::string& weight) {
    TracedWeight traced;
    traced.weight = weight;
    std::string current = weight;
    constexpr int kMaxChain = 16;
    for (int depth = 0;; ++depth) {
      absl::StatusOr<ConstantValue> constant = FindConstant(view, current, constant_options_);
      if (constant.ok()) {
        traced.root = current;
        traced.constant = *constant;
        std::reverse(traced.chain.begin(), traced.chain.end());
        return traced;
      }
      const auto& defs = view.Definitions(current);
      onnx::NodeProto* producer = defs.size() == 1 ? defs[0].node : nullptr;
      if (producer == nullptr || !IsLayoutTransparent(*producer) || depth == kMaxChain) {
        if (depth == 0) return constant.status();
        return absl::FailedPreconditionError(absl::StrCat(
            "'", weight, "' is computed through ", traced.chain.back()->op_type(), " node '",
            traced.chain.back()->name(), "' from '", current, "', which is not a constant: ",
            constant.status().message()));
      }
      for (int i = 1; i < producer->input_size(); ++i) {  // DequantizeLinear's scale, zero point
        if (producer->input(i).empty()) continue;
        absl::StatusOr<ConstantValue> operand = FindConstant(view, producer->input(i), constant_options_);
        if (!operand.ok()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "'", weight, "' is computed by ", producer->op_type(), " node '", producer->name(),
              "' whose input '", producer->input(i), "' is not a constant: ",
              operand.status().message()));
        }
      }
      traced.chain.push_back(producer);
      current = producer->input(0);
    }
  }

  // One constant's rewrite in progress: the names every renamed value gets and what reads them.
  struct GroupRewrite {
    std::vector<int64_t> onnx_dims, tf_dims, perm;
    std::string root_tf;
    absl::flat_hash_map<std::string, std::string> tf_names;  // ONNX-layout name -> TF-layout
    std::vector<std::string> renamed;  // deterministic order for the inserted Transposes
    absl::flat_hash_map<const onnx::NodeProto*, LayoutChainOp> chain_ops;
    absl::flat_hash_set<const onnx::NodeProto*> converted;  // readers now custom ops
  };

  // Rewrites one constant and every weight computed from it: checks all readers, permutes the
  // data, renames the values, converts or compensates each reader, records the result.
  absl::StatusOr<bool> RewriteGroup(PassContext& context, GraphView& view,
                                    const std::string& root, std::vector<TracedWeight>& group) {
    const ConstantValue& constant = group.front().constant;
    onnx::TensorProto& tensor = *constant.tensor;
    GroupRewrite rewrite;
    rewrite.onnx_dims.assign(tensor.dims().begin(), tensor.dims().end());
    TFL_ASSIGN_OR_RETURN(std::vector<std::vector<PlannedReader>> plans,
                         PlanReaders(group, rewrite.onnx_dims));
    absl::StatusOr<MutableSlots> slots = context.WeightSlots(tensor);
    if (absl::IsUnimplemented(slots.status())) {
      for (const TracedWeight& traced : group) {
        LeaveAlone(context, view, traced.weight, traced.readers, slots.status());
      }
      return false;
    }
    if (!slots.ok()) {
      return WithContext(slots.status(),
                         absl::StrCat("node '", group.front().readers.front().node->name(), "'"));
    }
    DecideForms(context, view, plans);
    TFL_RETURN_IF_ERROR(PermuteToTf(context, tensor, *slots, rewrite));
    RenameRoot(view, root, constant, tensor, rewrite);
    RetargetChains(view, group, rewrite);
    for (size_t w = 0; w < group.size(); ++w) {
      for (PlannedReader& planned : plans[w]) {
        if (!planned.to_custom_op) continue;
        ConvertToCustomOp(planned, rewrite.tf_names.at(group[w].weight));
        rewrite.converted.insert(planned.reader.node);
      }
    }
    CompensateRemainingReaders(view, root, constant, rewrite);
    if (!rewrite.converted.empty()) EnsureCustomOpsetImport(context.model);
    Record(context, group, plans, constant, rewrite);
    bytes_permuted_ += static_cast<int64_t>(slots->slot_size) * static_cast<int64_t>(slots->count);
    return true;
  }

  // Every reader's attributes, read before anything changes (a bad one fails the pass).
  static absl::StatusOr<std::vector<std::vector<PlannedReader>>> PlanReaders(
      const std::vector<TracedWeight>& group, const std::vector<int64_t>& onnx_dims) {
    std::vector<std::vector<PlannedReader>> plans;
    for (const TracedWeight& traced : group) {
      std::vector<PlannedReader>& plan = plans.emplace_back();
      for (const Reader& reader : traced.readers) {
        TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs,
                             ReadConvTransposeAttrs(*reader.node, onnx_dims));
        plan.push_back({reader, std::move(attrs)});
      }
    }
    return plans;
  }

  // Names every reader (annotations name nodes) and decides its form: a custom op needs
  // resolved pads.
  void DecideForms(PassContext& context, GraphView& view,
                   std::vector<std::vector<PlannedReader>>& plans) {
    for (std::vector<PlannedReader>& plan : plans) {
      for (PlannedReader& planned : plan) {
        onnx::NodeProto& node = *planned.reader.node;
        if (node.name().empty()) node.set_name(view.UniqueName(node.op_type()));
        planned.pads_resolved = TryResolvePads(context, planned);
        planned.to_custom_op = custom_op_ && planned.pads_resolved;
      }
    }
  }

  // Moves the data (C, M/g, S) -> (S, M/g, C) and gives the tensor its TF dims.
  static absl::Status PermuteToTf(PassContext& context, onnx::TensorProto& tensor,
                                  const MutableSlots& slots, GroupRewrite& rewrite) {
    const std::vector<int64_t>& onnx_dims = rewrite.onnx_dims;
    int64_t kernel_elements = 1;
    for (size_t i = 2; i < onnx_dims.size(); ++i) kernel_elements *= onnx_dims[i];
    PermuteOptions options;
    options.num_threads = context.num_threads;
    TFL_RETURN_IF_ERROR(context.PermuteSlots(
        tensor, slots, {onnx_dims[0], onnx_dims[1], kernel_elements, options}));
    rewrite.perm = OnnxToTfPerm(static_cast<int>(onnx_dims.size()));
    for (int64_t axis : rewrite.perm) rewrite.tf_dims.push_back(onnx_dims[axis]);
    tensor.clear_dims();
    for (int64_t d : rewrite.tf_dims) tensor.add_dims(d);
    return absl::OkStatus();
  }

  // A TF-layout value never carries an ONNX-layout name: the constant becomes root__tf.
  static void RenameRoot(GraphView& view, const std::string& root, const ConstantValue& constant,
                         onnx::TensorProto& tensor, GroupRewrite& rewrite) {
    rewrite.root_tf = view.UniqueName(absl::StrCat(root, "__tf"));
    rewrite.tf_names[root] = rewrite.root_tf;
    rewrite.renamed.push_back(root);
    if (constant.constant_node != nullptr) {
      *constant.constant_node->mutable_output(0) = rewrite.root_tf;  // the value's name is unused
    } else {
      tensor.set_name(rewrite.root_tf);
    }
    if (constant.listed_as_input) UpdateInputEntry(view, *constant.graph->graph, root, tensor);
  }

  // The ops between the constant and the weights now compute TF-layout values.
  static void RetargetChains(GraphView& view, const std::vector<TracedWeight>& group,
                             GroupRewrite& rewrite) {
    const int rank = static_cast<int>(rewrite.onnx_dims.size());
    for (const TracedWeight& traced : group) {
      for (onnx::NodeProto* node : traced.chain) {
        if (rewrite.chain_ops.contains(node)) continue;
        if (node->name().empty()) node->set_name(view.UniqueName(node->op_type()));
        LayoutChainOp& op = rewrite.chain_ops[node];
        op.set_node(node->name());
        op.set_op_type(node->op_type());
        op.set_source_output(node->output(0));
        *node->mutable_input(0) = rewrite.tf_names.at(node->input(0));
        const std::string out_tf = view.UniqueName(absl::StrCat(node->output(0), "__tf"));
        rewrite.tf_names[node->output(0)] = out_tf;
        rewrite.renamed.push_back(node->output(0));
        *node->mutable_output(0) = out_tf;
        op.set_output(out_tf);
        if (node->op_type() == "DequantizeLinear") RenumberDequantizeAxis(view, *node, rank, op);
      }
    }
  }

  // Whatever still reads a renamed value in ONNX layout gets a Transpose back.
  void CompensateRemainingReaders(GraphView& view, const std::string& root,
                                  const ConstantValue& constant, const GroupRewrite& rewrite) {
    const int rank = static_cast<int>(rewrite.onnx_dims.size());
    for (const std::string& name : rewrite.renamed) {
      bool onnx_view_needed = false;
      for (const GraphView::Use& use : view.Uses(name)) {
        if (use.node == nullptr || (!rewrite.converted.contains(use.node) &&
                                    !rewrite.chain_ops.contains(use.node))) {
          onnx_view_needed = true;
        }
      }
      if (!onnx_view_needed) continue;
      InsertOnnxView(view, name, rewrite.tf_names.at(name), rank,
                     name == root ? constant : ConstantValue{});
      ++transposes_inserted_;
    }
  }

  // One annotation entry per (weight, reader), and the counters.
  void Record(PassContext& context, const std::vector<TracedWeight>& group,
              const std::vector<std::vector<PlannedReader>>& plans,
              const ConstantValue& constant, const GroupRewrite& rewrite) {
    for (size_t w = 0; w < group.size(); ++w) {
      const TracedWeight& traced = group[w];
      for (const PlannedReader& planned : plans[w]) {
        RewrittenTensor* entry = context.annotation.add_tensors();
        entry->set_tensor(rewrite.tf_names.at(traced.weight));
        entry->set_source(traced.weight);
        entry->set_node(planned.reader.node->name());
        for (int64_t p : rewrite.perm) entry->add_perm(p);
        for (int64_t d : rewrite.onnx_dims) entry->add_onnx_dims(d);
        for (int64_t d : rewrite.tf_dims) entry->add_tf_dims(d);
        entry->set_form(planned.to_custom_op ? kFormCustomOp : kFormCompensate);
        entry->set_graph(planned.reader.graph->path);
        entry->set_storage(constant.constant_node ? "constant" : "initializer");
        entry->set_data_type(constant.tensor->data_type());
        if (!traced.chain.empty()) {
          entry->set_stored(rewrite.root_tf);
          entry->set_stored_source(traced.root);
          for (const onnx::NodeProto* node : traced.chain) {
            *entry->add_chain() = rewrite.chain_ops.at(node);
          }
        }
        FillTfSettings(planned, *entry->mutable_tf());
      }
      ++weights_rewritten_;
      nodes_annotated_ += static_cast<int64_t>(plans[w].size());
    }
    custom_ops_created_ += static_cast<int64_t>(rewrite.converted.size());
    layout_chain_ops_ += static_cast<int64_t>(rewrite.chain_ops.size());
  }

  // A per-axis DequantizeLinear keeps its (unchanged) scale and zero point: only the axis
  // moves with the permutation. A per-tensor one (scalar scale) needs nothing.
  static void RenumberDequantizeAxis(const GraphView& view, onnx::NodeProto& node, int rank,
                                     LayoutChainOp& op) {
    absl::StatusOr<ConstantValue> scale = FindConstant(view, node.input(1), {true});
    if (!scale.ok() || scale->tensor->dims_size() == 0) return;
    int64_t axis = DequantizeAxis(node);
    if (axis < 0) axis += rank;
    const std::vector<int64_t> perm = OnnxToTfPerm(rank);
    const int64_t tf_axis = std::find(perm.begin(), perm.end(), axis) - perm.begin();
    op.set_per_axis(true);
    op.set_source_axis(axis);
    op.set_axis(tf_axis);
    SetIntAttribute(node, "axis", tf_axis);
  }

  // Inserts `name` = Transpose(`tf_name`) right after the value's producer (the Constant node,
  // a chain op), or first in the graph of an initializer.
  static void InsertOnnxView(GraphView& view, const std::string& name, const std::string& tf_name,
                             int rank, const ConstantValue& root_constant) {
    onnx::NodeProto transpose = MakeOnnxView(view, name, tf_name, rank);
    onnx::GraphProto* graph = nullptr;
    int index = 0;
    if (root_constant.tensor != nullptr) {
      graph = root_constant.graph->graph;
      if (root_constant.constant_node) index = NodeIndex(*graph, root_constant.constant_node) + 1;
    } else {
      const GraphView::Definition& def = view.Definitions(name).front();  // a chain op
      graph = def.graph->graph;
      index = NodeIndex(*graph, def.node) + 1;
    }
    InsertNode(*graph, index, std::move(transpose));
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

  bool custom_op_ = false;
  ConstantOptions constant_options_;
  // Shape inference on the model as the pass found it (PassContext::analyses), on first need.
  const ValueShapes* shapes_ = nullptr;

  PassOption<std::string> form_{
      this, "form", kFormCompensate,
      "compensate: keep valid ONNX with a Transpose back to ONNX layout; custom-op: rewrite "
      "nodes to tflayout.ConvTransposeTF reading the TF-layout weight",
      {kFormCompensate, kFormCustomOp}};
  InitializersAsInputsOption initializers_as_inputs_{this};

  // Statistics, reported in this order.
  PassStatistic conv_transpose_weights_{this, "conv-transpose-weights", "distinct weights ConvTranspose nodes read"};
  PassStatistic weights_rewritten_{this, "weights-rewritten", "weights stored in TF layout"};
  PassStatistic weights_left_alone_{this, "weights-left-alone", "weights left alone (with a remark)"};
  PassStatistic weights_already_tf_{this, "weights-already-tf", "weights already in TF layout"};
  PassStatistic transposes_inserted_{this, "transposes-inserted", "Transpose nodes back to ONNX layout (compensate form)"};
  PassStatistic nodes_annotated_{this, "nodes-annotated", "nodes now reading a rewritten weight"};
  PassStatistic custom_ops_created_{this, "custom-ops-created", "nodes turned into the custom op"};
  PassStatistic layout_chain_ops_{this, "layout-chain-ops", "Identity/Cast/DequantizeLinear nodes between a weight and its reader, now in TF layout"};
  PassStatistic bytes_permuted_{this, "bytes-permuted", "bytes of weights permuted"};
};

}  // namespace

std::unique_ptr<Pass> CreateConvTransposeToTfPass() {
  return std::make_unique<ConvTransposeToTfPass>();
}

}  // namespace tflayout
