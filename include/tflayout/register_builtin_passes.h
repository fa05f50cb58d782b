// Every built-in pass, registered explicitly (no static-initializer magic).
#pragma once

#include "absl/status/status.h"
#include "tflayout/pass.h"

namespace tflayout {

absl::Status RegisterBuiltinPasses(PassRegistry& registry);

}  // namespace tflayout
