#include "tflayout/targets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/pass.h"

namespace tflayout {

const std::vector<Target>& Targets() {
  static const std::vector<Target>* targets = new std::vector<Target>{
      {"onnxruntime", kDefaultPipeline,
       "compensate form: valid ONNX, TF-layout weights behind a Transpose (the default)"},
      {"onnx-tf",
       "inline-conv-transpose-functions,fold-conv-transpose-weights,resolve-conv-transpose-pads,"
       "materialize-conv-transpose-dilations,"
       "conv-transpose-to-tf{form=custom-op},conv-to-tf{form=custom-op},gemm-to-tf",
       "custom-op form for onnx-tf with tflayout.onnx_tf_handler (tflayout.ConvTransposeTF, "
       "tflayout.ConvTF read the TF-layout weights); Gemm B operands as Dense kernels "
       "(transB=0)"},
      {"onnx2tf",
       "inline-conv-transpose-functions,fold-conv-transpose-weights,resolve-conv-transpose-pads,"
       "materialize-conv-transpose-dilations,split-conv-transpose-bias",
       "plain ConvTranspose nodes onnx2tf converts exactly (ONNX-layout weights)"},
  };
  return *targets;
}

absl::StatusOr<std::string> TargetPipeline(absl::string_view name) {
  std::vector<std::string> names;
  for (const Target& target : Targets()) {
    if (name == target.name) return std::string(target.pipeline);
    names.push_back(target.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown target '", name, "' (known: ",
                                                 absl::StrJoin(names, ", "), ")"));
}

}  // namespace tflayout
