#include "tflayout/register_builtin_passes.h"

#include "tflayout/status.h"
#include "passes/conv_transpose_from_tf.h"
#include "passes/conv_transpose_to_tf.h"
#include "passes/conv_to_tf.h"
#include "passes/fold_conv_transpose_weights.h"
#include "passes/gemm_to_tf.h"
#include "passes/inline_conv_transpose_functions.h"
#include "passes/materialize_conv_transpose_dilations.h"
#include "passes/remove_initializers_from_inputs.h"
#include "passes/resolve_conv_transpose_pads.h"
#include "passes/split_conv_transpose_bias.h"

namespace tflayout {

absl::Status RegisterBuiltinPasses(PassRegistry& registry) {
  TFL_RETURN_IF_ERROR(registry.Register(CreateResolveConvTransposePadsPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateMaterializeConvTransposeDilationsPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateConvTransposeToTfPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateConvTransposeFromTfPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateSplitConvTransposeBiasPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateRemoveInitializersFromInputsPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateFoldConvTransposeWeightsPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateInlineConvTransposeFunctionsPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateConvToTfPass));
  TFL_RETURN_IF_ERROR(registry.Register(CreateGemmToTfPass));
  return absl::OkStatus();
}

}  // namespace tflayout
