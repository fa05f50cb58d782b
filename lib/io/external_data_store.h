// The component that knows where every weight's bytes are while the pipeline runs with them on
// disk (tflayout-opt streaming and --in-place): ExternalDataStore, a WeightStore
// (include/tflayout/weight_store.h), indexes and validates every external tensor of a model loaded
// with load_external_data = false (lib/io/external_region.h: the checks LoadModel makes),
// including the embedded payloads LoadModelWeightsOnDisk left in the model file, and collects
// the rewrites the passes schedule, keyed by the tensor's region (file, offset, length).
//
// The bytes move later, one tensor at a time: lib/io/streamed_writer.h writes an output,
// lib/io/in_place.h rewrites the input where it is.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/io/external_region.h"
#include "onnx/onnx_pb.h"
#include "tflayout/weight_store.h"

namespace tflayout {

class ExternalDataStore : public WeightStore {
 public:
  // Indexes every external tensor of `model` (loaded with load_external_data = false).
  static absl::StatusOr<std::unique_ptr<ExternalDataStore>> Create(onnx::ModelProto& model,
                                                                  const std::string& base_dir);

  // External tensors were found.
  bool empty() const { return regions_.empty(); }
  // The model file itself, when LoadModelWeightsOnDisk left embedded payloads in it: its
  // regions are written back in embedded form (see LoadExternalRegion).
  void set_embedded_file(std::string canonical_path) { embedded_file_ = std::move(canonical_path); }
  bool IsEmbedded(const ExternalRegion& region) const {
    return !embedded_file_.empty() && region.path == embedded_file_;
  }
  // Two external tensors share bytes (then rewriting one through its region would change the
  // other: streaming falls back to a full load, --in-place refuses).
  bool has_overlaps() const { return !overlap_message_.empty(); }
  const std::string& overlap_message() const { return overlap_message_; }
  // Canonical paths of the data files the model reads.
  std::vector<std::string> files() const;

  absl::StatusOr<MutableSlots> Describe(const onnx::TensorProto& tensor) override;
  absl::Status Schedule(const onnx::TensorProto& tensor, Transform transform) override;
  absl::Status SchedulePermute(const onnx::TensorProto& tensor, const Permute& permute) override;
  absl::Status ReadWhole(onnx::TensorProto& tensor) override;

  // Transforms scheduled per region, in region order.
  const std::map<ExternalRegion::Key, std::vector<Transform>>& scheduled() const {
    return scheduled_;
  }
  absl::StatusOr<ExternalRegion> RegionOf(const onnx::TensorProto& tensor) const {
    return ResolveExternalRegion(tensor, base_dir_);
  }
  // The permutation, when it is the only transform scheduled for `key`: then the region can
  // move tile by tile (lib/io/tiled_permute.h).
  std::optional<Permute> SinglePermute(const ExternalRegion::Key& key) const;
  // Runs the transforms scheduled for `region` on `slots` (no-op without any).
  absl::Status ApplyScheduled(const ExternalRegion& region, const MutableSlots& slots) const;

 private:
  explicit ExternalDataStore(std::string base_dir) : base_dir_(std::move(base_dir)) {}
  std::string base_dir_;
  std::map<ExternalRegion::Key, ExternalRegion> regions_;
  std::map<ExternalRegion::Key, std::vector<Transform>> scheduled_;
  // Per scheduled region: its transforms are one described permutation (else nullopt).
  std::map<ExternalRegion::Key, std::optional<Permute>> single_permute_;
  std::string overlap_message_;
  std::string embedded_file_;
};

}  // namespace tflayout
