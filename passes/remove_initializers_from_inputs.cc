#include "passes/remove_initializers_from_inputs.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tflayout/graph_view.h"

namespace tflayout {
namespace {

class RemoveInitializersFromInputsPass : public Pass {
 public:
  std::string Name() const override { return "remove-initializers-from-inputs"; }
  std::string Summary() const override {
    return "Drop initializers from the main graph's inputs (IR >= 4), making them constants";
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    onnx::GraphProto& graph = *context.model.mutable_graph();
    absl::flat_hash_set<std::string> initializers;
    for (const onnx::TensorProto& t : graph.initializer()) initializers.insert(t.name());
    auto* inputs = graph.mutable_input();
    int listed = 0;
    for (const onnx::ValueInfoProto& input : *inputs) listed += initializers.contains(input.name());
    if (listed == 0) return false;
    if (context.model.ir_version() < kFirstIrWithOptionalInitializerInputs) {
      context.AddRemark(Name(), "", "",
                        absl::StrCat("IR ", context.model.ir_version(),
                                     " requires every initializer to be a graph input, where "
                                     "they are constants already: inputs kept"));
      return false;
    }
    int kept = 0;
    for (int i = 0; i < inputs->size(); ++i) {
      if (!initializers.contains(inputs->Get(i).name())) inputs->SwapElements(kept++, i);
    }
    inputs->DeleteSubrange(kept, inputs->size() - kept);
    inputs_removed_ += listed;
    return true;
  }

 private:
  // Statistics, reported in this order.
  PassStatistic inputs_removed_{this, "inputs-removed", "graph inputs that only listed an initializer"};
};

}  // namespace

std::unique_ptr<Pass> CreateRemoveInitializersFromInputsPass() {
  return std::make_unique<RemoveInitializersFromInputsPass>();
}

}  // namespace tflayout
