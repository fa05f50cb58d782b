#include "passes/resolve_conv_transpose_pads.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/node_util.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

// The producer_name tf2onnx writes into its models.
constexpr char kTf2onnxProducer[] = "tf2onnx";

class ResolveConvTransposePadsPass : public Pass {
 public:
  std::string Name() const override { return "resolve-conv-transpose-pads"; }
  std::string Summary() const override {
    return "Turn ConvTranspose auto_pad / output_shape into explicit begin/end pads where the "
           "input's spatial shape is known";
  }

  // Resolving one node can make shapes downstream of it inferable, so inference is re-run
  // until a round resolves nothing: a second run of the pass must find nothing left to do.
  // Shape inference reads small tensors' values.
  absl::Status DeclareWeightAccess(const PassContext& context,
                                   WeightAccess& access) const override {
    AppendShapeInferenceReads(context.model, access.read_whole);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    bool changed = false;
    absl::flat_hash_map<onnx::NodeProto*, std::string> unresolved;  // node -> why
    for (bool progress = true; progress;) {
      progress = false;
      unresolved.clear();
      GraphView view(context.model);
      const ValueShapes* shapes = nullptr;  // inference on the model as this round found it
      for (const auto& info : view.graphs()) {
        for (onnx::NodeProto& node : *info->graph->mutable_node()) {
          if (!IsOnnxConvTranspose(node) || node.input_size() < 2) continue;
          if (HasNegativePads(node)) {
            if (!shapes) shapes = &context.analyses.Get<ValueShapes>(context.model);
            TFL_RETURN_IF_ERROR(
                RepairNegativePads(*shapes, context.model.producer_name(), node));
            progress = changed = true;
            ++negative_pads_repaired_;
          }
          if (!HasImplicitPads(node)) continue;
          if (!shapes) shapes = &context.analyses.Get<ValueShapes>(context.model);
          TFL_ASSIGN_OR_RETURN(std::string why, ResolveNode(context, *shapes, node));
          if (why.empty()) {
            progress = changed = true;
          } else {
            unresolved[&node] = why;
          }
        }
      }
      if (progress) context.analyses.Invalidate();
    }
    // The last round changed nothing (earlier rounds invalidated what they inferred), so
    // whatever inference is cached describes the model as this pass leaves it.
    context.analyses.Preserve<ValueShapes>();
    // Remarks name the node and its input (whose shape decides), which later passes never
    // rename, so a re-run repeats exactly the same remark.
    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      for (onnx::NodeProto& node : *info->graph->mutable_node()) {
        auto it = unresolved.find(&node);
        if (it == unresolved.end()) continue;
        context.AddRemark(Name(), node.name(), node.input(0),
                          absl::StrCat("auto_pad/output_shape kept: ", it->second));
        ++nodes_unresolved_;
      }
    }
    return changed;
  }

 private:
  static bool HasImplicitPads(const onnx::NodeProto& node) {
    return FindAttribute(node, "output_shape") != nullptr ||
           StringAttribute(node, "auto_pad", "NOTSET") != "NOTSET";
  }

  static bool HasNegativePads(const onnx::NodeProto& node) {
    const onnx::AttributeProto* pads = FindAttribute(node, "pads");
    return pads != nullptr &&
           std::any_of(pads->ints().begin(), pads->ints().end(), [](int64_t p) { return p < 0; });
  }

  static std::string Label(const onnx::NodeProto& node) {
    return absl::StrCat("node '", node.name(), "' (ConvTranspose)");
  }

  // An INTS attribute of n values, or `fill` repeated when absent.
  static absl::StatusOr<std::vector<int64_t>> IntsOrDefault(const onnx::NodeProto& node,
                                                            absl::string_view name, size_t n,
                                                            int64_t fill) {
    const onnx::AttributeProto* attr = FindAttribute(node, name);
    if (attr == nullptr) return std::vector<int64_t>(n, fill);
    if (static_cast<size_t>(attr->ints_size()) != n) {
      return absl::InvalidArgumentError(absl::StrCat(Label(node), ": attribute ", name, " has ",
                                                     attr->ints_size(), " values, expected ", n));
    }
    return std::vector<int64_t>(attr->ints().begin(), attr->ints().end());
  }

  // Negative pads (invalid ONNX) extend the output instead of cropping it. At the end that
  // extension holds only the bias, exactly what output_padding adds. A negative begin pad has
  // no meaning of its own in ONNX, only its producer's: tf2onnx splits a negative total padding
  // in two halves as it does a positive one, while TensorFlow (what it converts) puts the whole
  // extension at the end. Returns the pads when this node's negative ones have a known
  // meaning: end pads anywhere, begin pads on an axis without a positive end pad in a tf2onnx
  // model.
  static absl::StatusOr<std::vector<int64_t>> ReadNegativePads(const onnx::NodeProto& node,
                                                               const std::string& producer) {
    const onnx::AttributeProto* attr = FindAttribute(node, "pads");
    std::vector<int64_t> pads(attr->ints().begin(), attr->ints().end());
    const std::string what = absl::StrCat(Label(node), ": attribute pads [",
                                          absl::StrJoin(pads, ","), "]");
    const onnx::AttributeProto* auto_pad = FindAttribute(node, "auto_pad");
    if (FindAttribute(node, "output_shape") != nullptr ||
        (auto_pad != nullptr && auto_pad->s() != "NOTSET")) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is negative and auto_pad/output_shape is set as well; pads must be >= 0"));
    }
    if (pads.size() % 2 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has an odd number of values"));
    }
    const size_t n = pads.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      if (pads[i] >= 0) continue;
      if (pads[n + i] > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has a negative begin pad and a positive end pad on axis ", i,
            ", which no ConvTranspose (nor any known producer) means; pads must be >= 0"));
      }
      if (producer != kTf2onnxProducer) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has a negative begin pad on axis ", i, ", which ONNX does not define; only "
            "tf2onnx's meaning is known (the extension comes at the end), and this model's "
            "producer is '", producer, "', not '", kTf2onnxProducer,
            "'. Negative end pads alone are repaired"));
      }
    }
    return pads;
  }

  // The repair: every negative pad becomes 0 and its size moves to output_padding; where
  // output_padding then reaches the stride, the node gets the output_shape form instead (which
  // ResolveNode keeps with a remark), or an error when there is none.
  static absl::Status RepairNegativePads(
      const ValueShapes& shapes,
      const std::string& producer, onnx::NodeProto& node) {
    TFL_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadNegativePads(node, producer));
    const size_t n = pads.size() / 2;
    const std::string what = absl::StrCat(Label(node), ": attribute pads [",
                                          absl::StrJoin(pads, ","), "]");
    TFL_ASSIGN_OR_RETURN(std::vector<int64_t> output_padding,
                         IntsOrDefault(node, "output_padding", n, 0));
    TFL_ASSIGN_OR_RETURN(std::vector<int64_t> strides, IntsOrDefault(node, "strides", n, 1));
    bool reaches_stride = false;
    for (size_t i = 0; i < n; ++i) {
      for (size_t side : {i, n + i}) {
        if (pads[side] >= 0) continue;
        if (pads[side] == std::numeric_limits<int64_t>::min() ||
            __builtin_add_overflow(output_padding[i], -pads[side], &output_padding[i])) {
          return absl::InvalidArgumentError(absl::StrCat(what, " overflows 64 bits"));
        }
        pads[side] = 0;
      }
      reaches_stride |= output_padding[i] >= strides[i];
    }
    onnx::NodeProto repaired = node;
    SetIntsAttribute(repaired, "pads", pads);
    SetIntsAttribute(repaired, "output_padding", output_padding);
    if (reaches_stride) {
      TFL_RETURN_IF_ERROR(WriteOutputShapeFormOf(shapes, what, repaired));
    }
    node = std::move(repaired);
    return absl::OkStatus();
  }

  static absl::Status WriteOutputShapeFormOf(
      const ValueShapes& shapes,
      const std::string& what, onnx::NodeProto& node) {
    const std::vector<int64_t> weight_dims = shapes.Dims(node.input(1));
    if (weight_dims.size() < 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " extends the output by the stride or more, which a standard ConvTranspose "
          "expresses only through output_shape, and the shape of weight '", node.input(1),
          "' is unknown"));
    }
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, weight_dims));
    const std::vector<int64_t> input_dims = shapes.Dims(node.input(0));
    const size_t n = attrs.spatial_rank;
    const std::vector<int64_t> spatial(
        input_dims.size() == n + 2 ? input_dims.begin() + 2 : input_dims.end(), input_dims.end());
    auto form = OutputShapeFormOf(attrs, spatial);
    if (!form.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " extends the output by the stride or more, which a standard ConvTranspose "
          "expresses only through output_shape (input '", node.input(0), "'): ",
          form.status().message()));
    }
    WriteOutputShapeForm(*form, node);
    return absl::OkStatus();
  }


  // Rewrites the node's pads; returns "" when done, else why it could not.
  absl::StatusOr<std::string> ResolveNode(
      PassContext& context, const ValueShapes& shapes,
      onnx::NodeProto& node) {
    const std::vector<int64_t> weight_dims = shapes.Dims(node.input(1));
    const std::vector<int64_t> input_dims = shapes.Dims(node.input(0));
    if (weight_dims.size() < 3 ||
        std::any_of(weight_dims.begin(), weight_dims.end(), [](int64_t d) { return d < 0; })) {
      return std::string("the weight's shape is unknown");
    }
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, weight_dims));
    if (input_dims.size() != weight_dims.size()) return std::string("the input's shape is unknown");
    const std::vector<int64_t> spatial(input_dims.begin() + 2, input_dims.end());
    ConvTransposeAttrs resolved = attrs;
    if (absl::Status st = ResolvePads(resolved, spatial); !st.ok()) {
      return std::string(st.message());
    }
    if (!StandardFormCanCarry(attrs, resolved)) {
      return absl::StrCat("output_shape extends the output past the full result by as much as "
                          "the stride or more, which explicit pads + output_padding (< stride) "
                          "cannot express in ONNX; output_padding [",
                          absl::StrJoin(resolved.output_padding, ","),
                          "] in the custom-op form and the annotation");
    }
    WriteExplicitPads(resolved, node);
    ++nodes_resolved_;
    return std::string();
  }

  // Statistics, reported in this order.
  PassStatistic negative_pads_repaired_{this, "negative-pads-repaired", "nodes whose negative pads were made non-negative"};
  PassStatistic nodes_unresolved_{this, "nodes-unresolved", "nodes left with implicit pads (with a remark)"};
  PassStatistic nodes_resolved_{this, "nodes-resolved", "nodes given explicit pads"};
};

}  // namespace

std::unique_ptr<Pass> CreateResolveConvTransposePadsPass() {
  return std::make_unique<ResolveConvTransposePadsPass>();
}

}  // namespace tflayout
