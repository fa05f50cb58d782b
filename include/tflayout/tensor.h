// Tensor views over onnx::TensorProto: element sizes, checked element counts, and a mutable
// view of the stored elements wherever they lie (raw_data or one of the typed fields).
//
// The permutation works on storage slots, not on logical elements: a float16 tensor kept in
// int32_data has 4-byte slots, one element each, and permuting the slots permutes the
// elements. So no typed tensor is ever converted to raw_data (which would change the file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

// Bytes per element in raw_data for a TensorProto.DataType; 0 for STRING, sub-byte types,
// UNDEFINED and values this library does not know.
size_t RawElementSize(int32_t data_type);

// Human-readable name ("FLOAT16"), or "UNKNOWN(<n>)".
std::string DataTypeName(int32_t data_type);

// Product of dims, failing on negative dims or overflow past 2^62 elements.
absl::StatusOr<int64_t> CheckedElementCount(const onnx::TensorProto& tensor);

// Where a tensor's elements are stored.
enum class TensorStorage { kRaw, kTyped, kExternal };
TensorStorage StorageOf(const onnx::TensorProto& tensor);

// A mutable view of a tensor's element slots: `count` slots of `slot_size` bytes each.
struct MutableSlots {
  void* data = nullptr;
  size_t slot_size = 0;
  int64_t count = 0;
};

// Returns the slots of a tensor held in raw_data or a typed field, after checking that the
// stored count matches dims. External tensors must be loaded first (model_io does this).
absl::StatusOr<MutableSlots> GetMutableSlots(onnx::TensorProto& tensor);

// Reads the tensor's elements as raw little-endian bytes of RawElementSize each (converting
// typed fields); used by tests and by passes that build new tensors.
absl::StatusOr<std::string> ReadElementBytes(const onnx::TensorProto& tensor);

// Stores `bytes` as the tensor's raw_data, clearing every typed field.
void SetRawData(onnx::TensorProto& tensor, std::string bytes);

}  // namespace tflayout
