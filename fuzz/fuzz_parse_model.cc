// Fuzz target (i): model loading. Parses arbitrary bytes as a model (external data resolved
// against a private folder holding one data file), then reads every tensor through the
// tensor views and checks the structure, as the pipeline does before any pass.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_common.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/model_io.h"
#include "tflayout/tensor.h"
#include "lib/ir/verify.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tflayout::fuzz::BaseDir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tflayout;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<LoadedModel> loaded = ParseModel(bytes, fuzz::BaseDir(), "fuzz.onnx");
  if (!loaded.ok()) {
    fuzz::Require(!loaded.status().message().empty(), "load error without a message");
    return 0;
  }
  // Every tensor: element count, storage, and a read of its elements (all must fail cleanly
  // or agree with dims).
  (void)ForEachTensor(loaded->model, [](onnx::TensorProto& t) -> absl::Status {
    absl::StatusOr<int64_t> count = CheckedElementCount(t);
    absl::StatusOr<std::string> elements = ReadElementBytes(t);
    if (elements.ok()) {
      fuzz::Require(count.ok(), "elements read from a tensor with invalid dims", t.name());
      fuzz::Require(elements->size() ==
                        static_cast<size_t>(*count) * RawElementSize(t.data_type()),
                    "element bytes disagree with dims", t.name());
    }
    return absl::OkStatus();
  });
  // ConvTranspose attributes against the weight's dims, where the weight is an initializer.
  GraphView view(loaded->model);
  for (const auto& info : view.graphs()) {
    for (const onnx::NodeProto& node : info->graph->node()) {
      if (!IsOnnxConvTranspose(node) || node.input_size() < 2) continue;
      absl::StatusOr<ConstantValue> constant = FindConstant(view, node.input(1));
      if (!constant.ok()) continue;
      const auto& d = constant->tensor->dims();
      const std::vector<int64_t> dims(d.begin(), d.end());
      (void)ReadConvTransposeAttrs(node, dims);
    }
  }
  (void)CheckStructure(loaded->model);
  return 0;
}
