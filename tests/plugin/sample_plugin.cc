// A sample pass plugin: adds "strip-doc-strings", which clears node doc strings.
#include <string>

#include "tflayout/plugin.h"

namespace {

class StripDocStringsPass : public tflayout::Pass {
 public:
  std::string Name() const override { return "strip-doc-strings"; }
  std::string Summary() const override { return "Clear the doc_string of every main-graph node"; }
  absl::StatusOr<bool> Run(tflayout::PassContext& context) override {
    bool changed = false;
    for (onnx::NodeProto& node : *context.model.mutable_graph()->mutable_node()) {
      if (node.doc_string().empty()) continue;
      node.clear_doc_string();
      context.Count("doc-strings-cleared");
      changed = true;
    }
    return changed;
  }
};

bool RegisterPasses(tflayout::PassRegistry* registry, std::string* error) {
  absl::Status st = registry->Register([] { return std::make_unique<StripDocStringsPass>(); });
  if (!st.ok()) *error = std::string(st.message());
  return st.ok();
}

}  // namespace

TFLAYOUT_DEFINE_PASS_PLUGIN("sample-plugin", "1.0", RegisterPasses)
