#include "passes/resolve_conv_transpose_pads.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "lib/conv_transpose.h"
#include "lib/graph_view.h"
#include "lib/status.h"

namespace tflayout {
namespace {

class ResolveConvTransposePadsPass : public Pass {
 public:
  std::string Name() const override { return "resolve-conv-transpose-pads"; }
  std::string Summary() const override {
    return "Turn ConvTranspose auto_pad / output_shape into explicit begin/end pads where the "
           "input's spatial shape is known";
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    GraphView view(context.model);
    std::optional<absl::flat_hash_map<std::string, std::vector<int64_t>>> shapes;
    bool changed = false;
    for (const auto& info : view.graphs()) {
      for (onnx::NodeProto& node : *info->graph->mutable_node()) {
        if (!IsOnnxConvTranspose(node) || node.input_size() < 2) continue;
        if (!HasImplicitPads(node)) continue;
        if (!shapes) shapes = InferValueShapes(context.model);
        TFL_ASSIGN_OR_RETURN(bool resolved, ResolveNode(context, *shapes, node));
        changed |= resolved;
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

  absl::StatusOr<bool> ResolveNode(
      PassContext& context, const absl::flat_hash_map<std::string, std::vector<int64_t>>& shapes,
      onnx::NodeProto& node) {
    const std::vector<int64_t> weight_dims = Lookup(shapes, node.input(1));
    const std::vector<int64_t> input_dims = Lookup(shapes, node.input(0));
    auto remark = [&](absl::string_view why) {
      context.AddRemark(Name(), node.name(), node.input(1),
                        absl::StrCat("auto_pad/output_shape kept: ", why));
      context.Count("nodes-unresolved");
      return false;
    };
    if (weight_dims.size() < 3 ||
        std::any_of(weight_dims.begin(), weight_dims.end(), [](int64_t d) { return d < 0; })) {
      return remark("the weight's shape is unknown");
    }
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, weight_dims));
    if (input_dims.size() != weight_dims.size()) return remark("the input's shape is unknown");
    const std::vector<int64_t> spatial(input_dims.begin() + 2, input_dims.end());
    if (absl::Status st = ResolvePads(attrs, spatial); !st.ok()) return remark(st.message());
    WriteExplicitPads(attrs, node);
    context.Count("nodes-resolved");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateResolveConvTransposePadsPass() {
  return std::make_unique<ResolveConvTransposePadsPass>();
}

}  // namespace tflayout
