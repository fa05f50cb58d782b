// Pass plugins: a shared library that adds passes to tflayout-opt (--load-pass-plugin=lib.so).
//
// A plugin links against libtflayout and defines the versioned entry point
//
//   extern "C" TflayoutPassPluginInfo tflayoutGetPassPluginInfo() {
//     return {TFLAYOUT_PASS_PLUGIN_API_VERSION, "my-plugin", "1.0", &RegisterMyPasses};
//   }
//
// (TFLAYOUT_DEFINE_PASS_PLUGIN below writes it). The loader refuses a plugin built for another
// API version, one without the entry point, and one whose passes clash with registered names.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tflayout/pass.h"

#define TFLAYOUT_PASS_PLUGIN_API_VERSION 2

extern "C" {
struct TflayoutPassPluginInfo {
  uint32_t api_version;
  const char* plugin_name;
  const char* plugin_version;
  // Adds the plugin's passes; returns false and fills *error on failure.
  bool (*register_passes)(tflayout::PassRegistry* registry, std::string* error);
};
}

#define TFLAYOUT_DEFINE_PASS_PLUGIN(name, version, register_fn)                  \
  extern "C" __attribute__((visibility("default"))) TflayoutPassPluginInfo      \
  tflayoutGetPassPluginInfo() {                                                 \
    return {TFLAYOUT_PASS_PLUGIN_API_VERSION, name, version, register_fn};      \
  }

namespace tflayout {

inline constexpr char kPluginEntryPoint[] = "tflayoutGetPassPluginInfo";

// dlopens `path` (kept loaded for the life of the process) and registers its passes.
absl::Status LoadPassPlugin(const std::string& path, PassRegistry& registry);

}  // namespace tflayout
