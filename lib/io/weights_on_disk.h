// Loading a model with embedded weights without reading the weights.
//
// For a file-to-file run, the large raw_data payloads of the main graph's initializers need
// not be in memory while the pipeline runs: they can stay in the input file and move one
// tensor at a time when the output is written, as external data does (lib/io/external_data_store.h, lib/io/streamed_writer.h).
// That saves the model's size in memory and the time to fault it in, which on a 1 GiB model
// is most of a run.
//
// LoadModelWeightsOnDisk scans the file's protobuf wire format along ModelProto.graph ->
// GraphProto.initializer -> TensorProto.raw_data, and parses a skeleton without the payloads of
// at least min_payload_bytes (default kWeightOnDiskBytes). Each such initializer then refers to its payload as external
// data: location = the model file's own name, offset and length of the payload inside it. An
// ExternalDataStore indexes and streams them like any external tensor, and WriteStreamed
// writes them back inline (byte for byte what saving the fully loaded model writes).
//
// Anything unusual (a graph field given twice, a tensor with typed data or external data next
// to raw_data, a payload that disagrees with dims, wire types ONNX does not use, a symlinked
// model file, ...) makes the whole model load the ordinary way instead, so errors read
// exactly as they do for a full load.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "tflayout/model_io.h"

namespace tflayout {

inline constexpr int64_t kWeightOnDiskBytes = int64_t{1} << 20;

// As LoadModel(path, {load_external_data = false}), except that large embedded initializers
// are left in the file (see above). loaded.weights_file is the model's canonical path when
// at least one was left there, empty otherwise.
absl::StatusOr<LoadedModel> LoadModelWeightsOnDisk(const std::string& path,
                                                   int64_t min_payload_bytes = kWeightOnDiskBytes);

}  // namespace tflayout
