#include "passes/conv_to_tf.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "passes/common/weight_layout_statistics.h"
#include "passes/common/weight_pass_options.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/node_util.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

constexpr char kOpType[] = "Conv";
constexpr int kWeightInput = 1;

class ConvToTfPass : public Pass {
 public:
  std::string Name() const override { return "conv-to-tf"; }
  std::string Summary() const override {
    return "Store constant Conv weights in TensorFlow layout (k..., C/group, M), behind a "
           "Transpose or read by tflayout.ConvTF";
  }
  bool ReportsWeightLayout() const override { return true; }

  absl::StatusOr<bool> Run(PassContext& context) override {
    constant_options_ = initializers_as_inputs_.constant_options();
    custom_op_ = *form_ == kFormCustomOp;
    report_ = WeightLayoutReport{};
    report_.op_type = kOpType;
    absl::StatusOr<bool> changed = RewriteWeights(context);
    statistics_.Add(report_);
    context.weight_layout = report_;
    return changed;
  }

 private:
  absl::StatusOr<bool> RewriteWeights(PassContext& context) {
    GraphView view(context.model);
    const std::vector<OperatorWeight> weights = OperatorWeights(view, kOpType, kWeightInput);
    const int64_t custom_only = CountWeightsReadOnlyByCustomOps(view, weights);
    report_.weights = static_cast<int64_t>(weights.size()) + custom_only;
    report_.already_tf += custom_only;
    bool changed = false;
    for (const OperatorWeight& weight : weights) {
      if (IsRecordedOnnxView(view, weight.name, context.annotation)) {  // a second run
        ++report_.already_tf;
        continue;
      }
      absl::Status why = CheckRewritable(view, weight.name);
      if (!why.ok()) {
        LeaveAlone(context, weight.readers, weight.name, why);
        continue;
      }
      TFL_ASSIGN_OR_RETURN(bool rewritten, Rewrite(context, view, weight.name, weight.readers));
      changed |= rewritten;
    }
    return changed;
  }

  // Weights that only tflayout.ConvTF nodes read: an earlier custom-op run rewrote them, so
  // they are already in TF layout (a second run is a no-op).
  static int64_t CountWeightsReadOnlyByCustomOps(const GraphView& view,
                                                 const std::vector<OperatorWeight>& weights) {
    absl::flat_hash_set<std::string> standard, custom;
    for (const OperatorWeight& weight : weights) standard.insert(weight.name);
    for (const auto& info : view.graphs()) {
      for (const onnx::NodeProto& node : info->graph->node()) {
        if (!IsCustomConv(node) || node.input_size() <= kWeightInput) continue;
        const std::string& weight = node.input(kWeightInput);
        if (!weight.empty() && !standard.contains(weight)) custom.insert(weight);
      }
    }
    return static_cast<int64_t>(custom.size());
  }

  absl::Status CheckRewritable(const GraphView& view, const std::string& weight) const {
    absl::StatusOr<ConstantValue> constant = FindConstant(view, weight, constant_options_);
    if (!constant.ok()) return constant.status();
    if (constant->tensor->dims_size() < 3) {
      return absl::FailedPreconditionError(
          absl::StrCat("weight has rank ", constant->tensor->dims_size(), ", not 3 to 5"));
    }
    for (const GraphView::Use& use : view.Uses(weight)) {
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

  void LeaveAlone(PassContext& context, const std::vector<WeightReader>& readers,
                  const std::string& weight, const absl::Status& why) {
    context.AddRemark(Name(), readers.front().node->name(), weight,
                      absl::StrCat("weight left alone: ", why.message()));
    ++report_.left_alone;
  }

  absl::StatusOr<bool> Rewrite(PassContext& context, GraphView& view, const std::string& weight,
                               const std::vector<WeightReader>& readers) {
    TFL_ASSIGN_OR_RETURN(ConstantValue constant, FindConstant(view, weight, constant_options_));
    onnx::TensorProto& tensor = *constant.tensor;
    absl::StatusOr<MutableSlots> slots = context.WeightSlots(tensor);
    if (absl::IsUnimplemented(slots.status())) {
      LeaveAlone(context, readers, weight, slots.status());
      return false;
    }
    if (!slots.ok()) {
      return WithContext(slots.status(), absl::StrCat("node '", readers.front().node->name(), "'"));
    }
    const std::vector<int64_t> onnx_dims(tensor.dims().begin(), tensor.dims().end());
    const int rank = static_cast<int>(onnx_dims.size());
    int64_t kernel_elements = 1;
    for (int i = 2; i < rank; ++i) kernel_elements *= onnx_dims[i];
    PermuteOptions options;
    options.num_threads = context.num_threads;
    // (M, C/g, S) -> (S, C/g, M).
    TFL_RETURN_IF_ERROR(context.PermuteSlots(
        tensor, *slots, {onnx_dims[0], onnx_dims[1], kernel_elements, options}));
    const std::vector<int64_t> perm = OnnxToTfPerm(rank);
    std::vector<int64_t> tf_dims;
    for (int64_t axis : perm) tf_dims.push_back(onnx_dims[axis]);
    tensor.clear_dims();
    for (int64_t d : tf_dims) tensor.add_dims(d);

    const std::string tf_name = view.UniqueName(absl::StrCat(weight, "__tf"));
    int index = 0;
    if (constant.constant_node != nullptr) {
      index = NodeIndex(*constant.graph->graph, constant.constant_node) + 1;
      *constant.constant_node->mutable_output(0) = tf_name;
    } else {
      tensor.set_name(tf_name);
    }
    if (constant.listed_as_input) {
      if (view.ir_version() < kFirstIrWithOptionalInitializerInputs) {
        RetypeInitializerInput(*constant.graph->graph, weight, tensor);
      } else {
        RemoveGraphInput(*constant.graph->graph, weight);
      }
    }
    if (custom_op_) {
      // CheckRewritable made sure that only Conv nodes read the weight: none needs the ONNX view.
      for (const WeightReader& reader : readers) ConvertToCustomOp(view, *reader.node, tf_name);
      EnsureCustomOpsetImport(context.model);
      custom_ops_created_ += static_cast<int64_t>(readers.size());
    } else {
      InsertOnnxView(view, *constant.graph->graph, index, weight, tf_name, rank);
    }

    for (const WeightReader& reader : readers) {
      onnx::NodeProto& node = *reader.node;
      if (node.name().empty()) node.set_name(view.UniqueName(node.op_type()));
      RewrittenTensor* entry = context.annotation.add_tensors();
      entry->set_tensor(tf_name);
      entry->set_source(weight);
      entry->set_node(node.name());
      entry->set_op_type(kOpType);
      for (int64_t p : perm) entry->add_perm(p);
      for (int64_t d : onnx_dims) entry->add_onnx_dims(d);
      for (int64_t d : tf_dims) entry->add_tf_dims(d);
      entry->set_form(custom_op_ ? kFormCustomOp : kFormCompensate);
      entry->set_graph(reader.graph->path);
      entry->set_storage(constant.constant_node ? "constant" : "initializer");
      entry->set_data_type(tensor.data_type());
      FillConvSettings(node, rank - 2, *entry->mutable_tf());
    }
    ++report_.rewritten;
    report_.nodes += static_cast<int64_t>(readers.size());
    report_.bytes += static_cast<int64_t>(slots->slot_size) * static_cast<int64_t>(slots->count);
    return true;
  }

  // The compensate form's `weight` = Transpose(`tf_name`), at `index` (after the Constant node).
  void InsertOnnxView(GraphView& view, onnx::GraphProto& graph, int index,
                      const std::string& weight, const std::string& tf_name, int rank) {
    InsertNode(graph, index, MakeOnnxView(view, weight, tf_name, rank));
    ++transposes_inserted_;
  }

  // Conv -> tflayout.ConvTF reading the TF-layout weight. Every attribute stays as written
  // (auto_pad included), so that conv-transpose-from-tf gives back the very node.
  static void ConvertToCustomOp(GraphView& view, onnx::NodeProto& node,
                                const std::string& tf_name) {
    if (node.name().empty()) node.set_name(view.UniqueName(node.op_type()));
    node.set_op_type(kCustomConvOpType);
    node.set_domain(kCustomDomain);
    *node.mutable_input(kWeightInput) = tf_name;
  }

  // strides, dilations, group and, when the node states them, explicit pads (begin, end).
  static void FillConvSettings(const onnx::NodeProto& node, int spatial_rank,
                               TfConvSettings& tf) {
    // An attribute of the wrong length is the checker's business: the default stands.
    auto ints_or = [&](const char* name, size_t length, int64_t fallback) {
      std::vector<int64_t> values = IntsAttribute(node, name);
      return values.size() == length ? values : std::vector<int64_t>(length, fallback);
    };
    const size_t n = static_cast<size_t>(spatial_rank);
    const std::vector<int64_t> strides = ints_or("strides", n, 1),
                               dilations = ints_or("dilations", n, 1),
                               pads = ints_or("pads", 2 * n, 0);
    const std::string auto_pad = StringAttribute(node, "auto_pad", "NOTSET");
    const int64_t group = IntAttribute(node, "group", 1);
    for (int64_t s : strides) tf.add_strides(s);
    for (int64_t d : dilations) tf.add_dilations(d);
    tf.set_group(group);
    const bool explicit_pads = auto_pad == "NOTSET" || auto_pad == "VALID";
    tf.set_pads_resolved(explicit_pads);
    if (!explicit_pads) {
      tf.set_auto_pad(auto_pad);
      return;
    }
    for (int i = 0; i < spatial_rank; ++i) {
      tf.add_pads_begin(auto_pad == "VALID" ? 0 : pads[i]);
      tf.add_pads_end(auto_pad == "VALID" ? 0 : pads[spatial_rank + i]);
    }
  }

  bool custom_op_ = false;
  ConstantOptions constant_options_;
  WeightLayoutReport report_;

  PassOption<std::string> form_{
      this, "form", kFormCompensate,
      "compensate: keep valid ONNX with a Transpose back to ONNX layout; custom-op: rewrite "
      "nodes to tflayout.ConvTF reading the TF-layout weight",
      {kFormCompensate, kFormCustomOp}};
  InitializersAsInputsOption initializers_as_inputs_{this};

  // Statistics, reported in this order.
  WeightLayoutStatistics statistics_{this, "conv-weights", "distinct weights Conv nodes read",
                                     "weights already in TF layout"};
  PassStatistic transposes_inserted_{this, "transposes-inserted", "Transpose nodes back to ONNX layout (compensate form)"};
  PassStatistic custom_ops_created_{this, "custom-ops-created", "nodes turned into tflayout.ConvTF (custom-op form)"};
};

}  // namespace

std::unique_ptr<Pass> CreateConvToTfPass() { return std::make_unique<ConvToTfPass>(); }

}  // namespace tflayout
