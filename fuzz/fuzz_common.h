// Shared set-up for the fuzz targets.
#pragma once

#include <string>

#include "tflayout/pass.h"
#include "tflayout/targets.h"

namespace tflayout::fuzz {

// A private folder holding "weights.bin" (64 KiB of a byte pattern) so that fuzzed models
// with external data reach the loader's path and range checks. Created once per process.
const std::string& BaseDir();

// The built-in passes, registered once per process.
const PassRegistry& BuiltinRegistry();

// Aborts with a message (a finding) when `condition` is false.
void Require(bool condition, const char* what, const std::string& detail = "");

}  // namespace tflayout::fuzz
