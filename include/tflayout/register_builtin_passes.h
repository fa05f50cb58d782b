// Every built-in pass, registered explicitly (no static-initializer magic), and (through
// tflayout/targets.h) the pipelines made of them.
#pragma once

#include "absl/status/status.h"
#include "tflayout/pass.h"
#include "tflayout/targets.h"

namespace tflayout {

absl::Status RegisterBuiltinPasses(PassRegistry& registry);

}  // namespace tflayout
