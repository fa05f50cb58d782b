// Writing a model whose weights are still on disk (in the ExternalDataStore's regions): region
// by region, so memory stays bounded whatever the model's size. Untouched tensors are copied by
// the kernel (copy_file_range); rewritten ones are read, transformed and written one at a time.
// The files written are byte for byte what SaveModel writes after a full load (same order,
// alignment and threshold for the data file; protobuf's own field order inline).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "lib/io/external_data_store.h"
#include "onnx/onnx_pb.h"
#include "tflayout/model_io.h"

namespace tflayout {

// Writes `model` (external tensors still referring to the input's files through `store`) to
// `path`: with options.use_external_data, one data file `<path>.data` written region by
// region, then the model file; both atomically. Without it, the main graph's external
// initializers are written inline one at a time (other external tensors are read into the
// model first; lib/io/inline_plan.h). With options.external_data_over_limit, a model that
// would pass 2 GiB inline goes external. `model` is consumed (its tensors end up pointing at
// the new data file).
absl::Status WriteStreamed(onnx::ModelProto& model, const ExternalDataStore& store,
                           const std::string& path, const SaveOptions& options);

}  // namespace tflayout
