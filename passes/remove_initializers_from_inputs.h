// remove-initializers-from-inputs: Drop initializers from the main graph's inputs (IR >= 4), making
// them constants
//
// Before (IR >= 4, e.g. torch.onnx.export(..., keep_initializers_as_inputs=True)):
//     graph inputs: X, W, B          initializers: W, B
// After:
//     graph inputs: X                initializers: W, B          (values unchanged)
//
// This is what ONNX Runtime's tools/python/remove_initializer_from_input.py does: from IR 4
// on, an initializer listed as an input is a default the caller may override at run time;
// dropping the entry is the user's statement that nobody will.
//
// Conditions: main graph only (a subgraph's inputs are bound by its Loop/Scan/If owner, not by
// the caller). Below IR 4 the spec requires every initializer to be listed, and the entries
// already mean "constant": the model is left as it is, with a remark.
#pragma once

#include <memory>

#include "tflayout/pass.h"

namespace tflayout {

std::unique_ptr<Pass> CreateRemoveInitializersFromInputsPass();

}  // namespace tflayout
