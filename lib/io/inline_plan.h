// The plan of a model file written with every payload inline while the payloads are still on
// disk (the streamed writer without external data, lib/io/streamed_writer.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/io/external_data_store.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

// The output of WriteStreamed without external data, as a sequence of serialized bytes, each
// followed by nothing or by one external tensor's (transformed) payload. The pieces are cut so
// that the file is byte for byte what protobuf writes for the model with every payload loaded:
// the graph (field 7) goes after the model's known fields numbered below 7, initializers
// (5) after the graph's known fields below 5, raw_data (9) after the tensor's below 9.
struct InlinePiece {
  std::string bytes;
  std::optional<ExternalRegion> region;
};
struct InlinePlan {
  std::vector<InlinePiece> pieces;
  int64_t size = 0;
};

// Plans the main graph's external initializers inline (the caller has read every other
// external tensor into the model).
absl::StatusOr<InlinePlan> PlanInline(onnx::ModelProto& model, const ExternalDataStore& store);

}  // namespace tflayout
