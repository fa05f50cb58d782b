// Where an external tensor's bytes are: parsing and validating TensorProto.external_data into a
// region of a file, and reading a region back into the tensor. The one validation path for
// external data: LoadModel (a full load), the ExternalDataStore (weights left on disk), the
// streamed writer and --in-place all resolve tensors here.
//
// Also implements the external-reference helpers declared in include/tflayout/model_io.h
// (ParseExternalRef, SetExternalDataEntries, ResolveExternalLocation, CanonicalPath).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

// A validated external-data region.
struct ExternalRegion {
  std::string path;      // canonical path of the data file
  std::string location;  // as written in the model
  int64_t offset = 0;
  int64_t length = 0;
  size_t element_size = 0;
  int64_t count = 0;

  using Key = std::tuple<std::string, int64_t, int64_t>;
  Key key() const { return {path, offset, length}; }
};

// Parses and validates a tensor's external_data against `base_dir`: the location resolves
// inside the model's folder, offset + length lie inside a regular file, length agrees with
// dims. A tensor of more than `max_bytes` is refused (LoadModel passes protobuf's 2 GiB limit;
// weights left on disk have none).
absl::StatusOr<ExternalRegion> ResolveExternalRegion(
    const onnx::TensorProto& tensor, const std::string& base_dir,
    int64_t max_bytes = std::numeric_limits<int64_t>::max());

// Reads a region's bytes into the tensor (raw_data, data_location DEFAULT), exactly as
// LoadModel leaves an external tensor; `embedded`: a payload LoadModelWeightsOnDisk left in
// the model file, which gets its original form back (raw_data, no data_location).
absl::Status LoadExternalRegion(onnx::TensorProto& tensor, const ExternalRegion& region,
                                bool embedded = false);
// The data_location a tensor read back into raw_data gets (see LoadExternalRegion).
void SetLoadedLocation(onnx::TensorProto& tensor, bool embedded);

}  // namespace tflayout
