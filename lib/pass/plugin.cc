#include "tflayout/plugin.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace tflayout {

absl::Status LoadPassPlugin(const std::string& path, PassRegistry& registry) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat("pass plugin '", path, "': ", ::dlerror()));
  }
  using EntryPoint = TflayoutPassPluginInfo (*)();
  auto entry = reinterpret_cast<EntryPoint>(::dlsym(handle, kPluginEntryPoint));
  if (entry == nullptr) {
    ::dlclose(handle);
    return absl::InvalidArgumentError(absl::StrCat(
        "pass plugin '", path, "' has no entry point ", kPluginEntryPoint, "()"));
  }
  const TflayoutPassPluginInfo info = entry();
  if (info.api_version != TFLAYOUT_PASS_PLUGIN_API_VERSION) {
    // Build the message before dlclose: plugin_name points into the library.
    absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
        "pass plugin '", path, "' (", info.plugin_name ? info.plugin_name : "?",
        ") was built for plugin API version ", info.api_version, "; this tflayout speaks version ",
        TFLAYOUT_PASS_PLUGIN_API_VERSION));
    ::dlclose(handle);
    return refused;
  }
  if (info.register_passes == nullptr) {
    ::dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat("pass plugin '", path, "' has no register_passes function"));
  }
  std::string error;
  if (!info.register_passes(&registry, &error)) {
    // The library stays loaded: passes it registered before failing point into it.
    return absl::InvalidArgumentError(
        absl::StrCat("pass plugin '", path, "' failed to register its passes: ", error));
  }
  return absl::OkStatus();
}

}  // namespace tflayout
