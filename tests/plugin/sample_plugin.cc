// A sample pass plugin: adds "strip-doc-strings", which clears node doc strings, with a typed
// option and a statistic as a plugin author declares them.
#include <string>

#include "tflayout/node_util.h"
#include "tflayout/plugin.h"

namespace {

class StripDocStringsPass : public tflayout::Pass {
 public:
  std::string Name() const override { return "strip-doc-strings"; }
  std::string Summary() const override { return "Clear the doc_string of every node"; }
  absl::StatusOr<bool> Run(tflayout::PassContext& context) override {
    bool changed = false;
    auto clear = [&](onnx::NodeProto& node) {
      if (node.doc_string().empty()) return;
      node.clear_doc_string();
      ++cleared_;
      changed = true;
    };
    auto& nodes = *context.model.mutable_graph()->mutable_node();
    if (*graphs_ == "all") {
      tflayout::ForEachNodeDeep(nodes, clear);
    } else {
      for (onnx::NodeProto& node : nodes) clear(node);
    }
    return changed;
  }

 private:
  tflayout::PassOption<std::string> graphs_{
      this, "graphs", "main", "main: main-graph nodes only; all: subgraphs too", {"main", "all"}};
  tflayout::PassStatistic cleared_{this, "doc-strings-cleared", "doc strings cleared"};
};

bool RegisterPasses(tflayout::PassRegistry* registry, std::string* error) {
  absl::Status st = registry->Register([] { return std::make_unique<StripDocStringsPass>(); });
  if (!st.ok()) *error = std::string(st.message());
  return st.ok();
}

}  // namespace

TFLAYOUT_DEFINE_PASS_PLUGIN("sample-plugin", "1.0", RegisterPasses)
