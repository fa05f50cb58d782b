#include "passes/resolve_conv_transpose_pads.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

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
      std::optional<absl::flat_hash_map<std::string, std::vector<int64_t>>> shapes;
      for (const auto& info : view.graphs()) {
        for (onnx::NodeProto& node : *info->graph->mutable_node()) {
          if (!IsOnnxConvTranspose(node) || node.input_size() < 2) continue;
          if (!HasImplicitPads(node)) continue;
          if (!shapes) shapes = InferValueShapes(context.model);
          TFL_ASSIGN_OR_RETURN(std::string why, ResolveNode(context, *shapes, node));
          if (why.empty()) {
            progress = changed = true;
          } else {
            unresolved[&node] = why;
          }
        }
      }
    }
    // Remarks name the node and its input (whose shape decides), which later passes never
    // rename, so a re-run repeats exactly the same remark.
    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      for (onnx::NodeProto& node : *info->graph->mutable_node()) {
        auto it = unresolved.find(&node);
        if (it == unresolved.end()) continue;
        context.AddRemark(Name(), node.name(), node.input(0),
                          absl::StrCat("auto_pad/output_shape kept: ", it->second));
        context.Count("nodes-unresolved");
      }
    }
    return changed;
  }

 private:
  static bool HasImplicitPads(const onnx::NodeProto& node) {
    for (const onnx::AttributeProto& attr : node.attribute()) {
      if (attr.name() == "output_shape") return true;
      if (attr.name() == "auto_pad" && attr.s() != "NOTSET") return true;
    }
    return false;
  }

  static std::vector<int64_t> Lookup(
      const absl::flat_hash_map<std::string, std::vector<int64_t>>& shapes,
      const std::string& name) {
    auto it = shapes.find(name);
    return it == shapes.end() ? std::vector<int64_t>{} : it->second;
  }

  // Rewrites the node's pads; returns "" when done, else why it could not.
  absl::StatusOr<std::string> ResolveNode(
      PassContext& context, const absl::flat_hash_map<std::string, std::vector<int64_t>>& shapes,
      onnx::NodeProto& node) {
    const std::vector<int64_t> weight_dims = Lookup(shapes, node.input(1));
    const std::vector<int64_t> input_dims = Lookup(shapes, node.input(0));
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
    context.Count("nodes-resolved");
    return std::string();
  }
};

}  // namespace

std::unique_ptr<Pass> CreateResolveConvTransposePadsPass() {
  return std::make_unique<ResolveConvTransposePadsPass>();
}

}  // namespace tflayout
