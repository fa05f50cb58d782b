// Named pipelines, one per consumer of the output (tflayout-opt --target=NAME, the C API's
// tflayout_target_pipeline, tflayout.run(target=...)). The consumer decides the form:
//   onnxruntime  the compensate form (the default pipeline): valid ONNX, TF-layout weights
//                behind a Transpose; every ONNX runtime computes the same result.
//   onnx-tf      the custom-op form: tflayout.ConvTransposeTF nodes for onnx-tf with
//                tflayout.onnx_tf_handler imported.
//   onnx2tf      plain ai.onnx ConvTranspose nodes in the forms onnx2tf converts exactly
//                (measured by python/tests/test_onnx2tf*.py): explicit pads, undilated kernels,
//                one group per node, no padding or output_padding inside the node. Weights
//                stay in ONNX layout: onnx2tf transposes them itself, and a TF-layout constant
//                behind a Transpose is what it mistakes for an activation.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tflayout {

// The pipeline tflayout-opt runs when neither --passes nor --target is given (the onnxruntime
// target). split-conv-transpose-bias is in it so that the output never converts silently wrong
// through onnx2tf (which drops 3-D ConvTranspose biases; onnxsim folds the compensate form back).
// inline-conv-transpose-functions comes first: the other passes only see ConvTranspose nodes in
// graphs, not in model-local function bodies (torch's export_modules_as_functions).
inline constexpr char kDefaultPipeline[] =
    "inline-conv-transpose-functions,fold-conv-transpose-weights,resolve-conv-transpose-pads,"
    "materialize-conv-transpose-dilations,split-conv-transpose-bias,conv-transpose-to-tf";

struct Target {
  const char* name;
  const char* pipeline;
  const char* summary;
};

// Every target, in the order --help lists them.
const std::vector<Target>& Targets();

// The pipeline text of a target; InvalidArgument naming the known targets otherwise.
absl::StatusOr<std::string> TargetPipeline(absl::string_view name);

}  // namespace tflayout
