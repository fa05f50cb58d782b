// A plugin built for a future API version: the loader must refuse it.
#include "tflayout/plugin.h"

extern "C" __attribute__((visibility("default"))) TflayoutPassPluginInfo
tflayoutGetPassPluginInfo() {
  return {TFLAYOUT_PASS_PLUGIN_API_VERSION + 1, "future-plugin", "9.9", nullptr};
}
