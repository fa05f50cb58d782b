// Reading a model file for a rewrite and writing the result: the file-to-file path that
// tflayout-opt and tflayout_run_file (include/tflayout/c_api.h) share.
//
// With streaming (the default), weights stay on disk while the pipeline runs: external data in
// its files, large embedded weights in the model file (lib/io/weights_on_disk.h). The pipeline
// must then run with `store` as its PipelineOptions::weight_store, and the writer moves the
// bytes one tensor at a time. Without streaming, or when two external tensors share bytes,
// the whole model is loaded and `store` stays null.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/io/external_data_store.h"
#include "tflayout/model_io.h"

namespace tflayout {

struct ModelFileOptions {
  bool stream = true;
  // For --in-place: external data on disk, embedded weights in memory, and tensors that share
  // bytes refused rather than loaded; except that a model whose large weights are all embedded
  // (no external data) is read as for a file-to-file run, weights on disk (EmbeddedOnly below),
  // to be rewritten by SaveModelFile with `replace_input`.
  bool in_place = false;
  // SaveModelFile may write over the input model file (atomically: a new file renamed over it
  // once complete, the input read until then). Its data files stay protected.
  bool replace_input = false;
  // Keep embedded weights in memory even when streaming (to print the model as loaded).
  bool embedded_in_memory = false;
  // Output: "auto" (external data when the input had it or the model would pass 2 GiB),
  // "always" or "never".
  std::string external_data = "auto";
  // fsync the output before renaming it into place (SaveOptions::sync).
  bool sync = false;
};

absl::StatusOr<LoadedModel> LoadModelFile(const std::string& path, const ModelFileOptions& options,
                                          std::unique_ptr<ExternalDataStore>& store);

// Writes the rewritten model to `output` atomically (never over the input's data files, nor
// over the input unless options.replace_input).
absl::Status SaveModelFile(LoadedModel& loaded, const ExternalDataStore* store,
                           const std::string& output, const ModelFileOptions& options);

// The model's weights on disk are all embedded ones in its own file (none is external data):
// an --in-place run rewrites it by streaming, like -o, into a file renamed over it.
bool EmbeddedOnly(const LoadedModel& loaded, const ExternalDataStore* store);

}  // namespace tflayout
