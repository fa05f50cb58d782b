// The storage interface a pipeline sees when weights stay on disk while it runs (tflayout-opt
// streaming and --in-place; the implementation is lib/io/external_data_store.h).
//
// A pass never reads such a tensor's bytes by accident: it either asks for its geometry
// (Describe) and schedules a rewrite that the store runs when it writes or maps the data,
// exactly once per tensor, or it declares up front that it reads the tensor whole
// (Pass::DeclareWeightAccess), and the pipeline has the store bring it into memory with
// ReadWhole before the pass runs. The store itself knows no operator and no pass.
// Passes must leave an external tensor's external_data entries (location, offset, length)
// untouched.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "tflayout/permute.h"
#include "tflayout/tensor.h"

namespace tflayout {

class WeightStore {
 public:
  using Transform = std::function<absl::Status(const MutableSlots& slots)>;
  virtual ~WeightStore() = default;
  // Validates an external tensor; returns its slots with data == nullptr. Unimplemented for
  // element types the store cannot handle (as GetMutableSlots).
  virtual absl::StatusOr<MutableSlots> Describe(const onnx::TensorProto& tensor) = 0;
  // Schedules `transform` on the tensor's elements (raw little-endian slots). Several
  // transforms of one tensor run in the order scheduled.
  virtual absl::Status Schedule(const onnx::TensorProto& tensor, Transform transform) = 0;

  // The permutation (A, B, S) -> (S, B, A) of PermuteABSToSBA, described rather than opaque so
  // that a store can move the tensor tile by tile (memory bounded by tiles, not tensors).
  struct Permute {
    int64_t a = 0, b = 0, s = 0;
    PermuteOptions options;
  };
  // Schedules `permute` like Schedule; the default runs PermuteABSToSBA on the whole tensor.
  virtual absl::Status SchedulePermute(const onnx::TensorProto& tensor, const Permute& permute) {
    return Schedule(tensor, [permute](const MutableSlots& s) {
      return PermuteABSToSBA(s.data, s.slot_size, permute.a, permute.b, permute.s,
                             permute.options);
    });
  }

  // Brings an external tensor's elements into the model (raw_data), with the transforms
  // scheduled for it so far applied; from then on the tensor is an ordinary in-memory one.
  // No-op for a tensor that is not external.
  virtual absl::Status ReadWhole(onnx::TensorProto& tensor) = 0;
};

}  // namespace tflayout
