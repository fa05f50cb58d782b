// The whole-model path for models whose weights live in external data files: the pipeline
// runs on the model with its external tensors left on disk, and the bytes move one tensor at
// a time, so memory stays at about the largest rewritten tensor whatever the model's size.
//
// - ExternalDataStore (a WeightStore, lib/pass.h) indexes and validates every external tensor
//   of a model loaded with load_external_data = false (the same checks LoadModel makes: the
//   location resolves inside the model's folder, offset + length lie inside the file, length
//   agrees with dims) and collects the rewrites the passes schedule, keyed by the tensor's
//   region (file, offset, length).
// - WriteStreamed writes the output model region by region: untouched tensors are copied
//   chunk-wise (copy_file_range), rewritten ones are read, transformed and written one at a
//   time. The data file it writes is byte for byte the one SaveModel writes after a full load
//   (same order, alignment and threshold), and the model file too.
// - InPlaceRewrite rewrites the input's data files where they are, through MAP_SHARED maps of
//   one tensor at a time, and replaces the model file atomically. A journal beside the model
//   (`<model>.tflayout-journal`) makes it safe to kill at any moment:
//
//     journal created (header: hash of the original model file, pipeline fingerprint)
//     per tensor: BEGIN record + the tensor's original bytes, fsync
//                 map, transform, msync, unmap
//                 DONE record, fsync; the saved bytes are punched out of the journal
//     COMMIT record (hash of the new model file), fsync
//     model file replaced (temporary file + fsync + rename)
//     journal removed
//
//   On the next --in-place run, recovery reads the journal: a torn trailing record is cut
//   off; a BEGIN without DONE is rolled back from its saved bytes (an ABORT record follows);
//   DONE tensors are already rewritten, so the rerun of the pipeline (deterministic on the
//   unchanged model file) skips their transforms; when the model file already hashes to the
//   COMMIT record, only the journal is left to remove. A journal whose original-model hash
//   matches neither is refused, as is a rerun with a different pipeline.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
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

// Parses and validates a tensor's external_data against `base_dir`, as LoadModel does (but
// without the 2 GiB-per-tensor limit, which only a protobuf message needs).
absl::StatusOr<ExternalRegion> ResolveExternalRegion(const onnx::TensorProto& tensor,
                                                    const std::string& base_dir);

// Reads a region's bytes into the tensor (raw_data, data_location DEFAULT), exactly as
// LoadModel leaves an external tensor; `embedded`: a payload LoadModelWeightsOnDisk left in
// the model file, which gets its original form back (raw_data, no data_location).
absl::Status LoadExternalRegion(onnx::TensorProto& tensor, const ExternalRegion& region,
                                bool embedded = false);
// The data_location a tensor read back into raw_data gets (see LoadExternalRegion).
void SetLoadedLocation(onnx::TensorProto& tensor, bool embedded);

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

  // Loads into raw_data the external tensors the pipeline must read: tiny ones (shape
  // inference reads small integer tensors) and the weights of dilated ConvTranspose nodes
  // (materialize-conv-transpose-dilations builds a new kernel from them). For -o output this
  // changes nothing in the result: LoadModel leaves every external tensor in that state.
  absl::Status PreloadTensorsPassesRead(onnx::ModelProto& model);

  absl::StatusOr<MutableSlots> Describe(const onnx::TensorProto& tensor) override;
  absl::Status Schedule(const onnx::TensorProto& tensor, Transform transform) override;

  // Transforms scheduled per region, in region order.
  const std::map<ExternalRegion::Key, std::vector<Transform>>& scheduled() const {
    return scheduled_;
  }
  absl::StatusOr<ExternalRegion> RegionOf(const onnx::TensorProto& tensor) const {
    return ResolveExternalRegion(tensor, base_dir_);
  }
  // Runs the transforms scheduled for `region` on `slots` (no-op without any).
  absl::Status ApplyScheduled(const ExternalRegion& region, const MutableSlots& slots) const;

 private:
  explicit ExternalDataStore(std::string base_dir) : base_dir_(std::move(base_dir)) {}
  std::string base_dir_;
  std::map<ExternalRegion::Key, ExternalRegion> regions_;
  std::map<ExternalRegion::Key, std::vector<Transform>> scheduled_;
  std::string overlap_message_;
  std::string embedded_file_;
};

// Writes `model` (external tensors still referring to the input's files through `store`) to
// `path`: with options.use_external_data, one data file `<path>.data` written region by
// region, then the model file; both atomically. Without it, the main graph's external
// initializers are written inline one at a time (other external tensors are read into the
// model first); the file is byte for byte what SaveModel writes after a full load. With
// options.external_data_over_limit, a model that would pass 2 GiB inline goes external. `model` is consumed (its tensors end up pointing at the new data file).
absl::Status WriteStreamed(onnx::ModelProto& model, const ExternalDataStore& store,
                           const std::string& path, const SaveOptions& options);

// The journal file an interrupted --in-place run leaves beside the model.
std::string InPlaceJournalPath(const std::string& model_path);

class InPlaceRewrite {
 public:
  // Recovers from an interrupted run of the same command if a journal exists: rolls back a
  // half-rewritten tensor, and remembers the tensors already rewritten. `fingerprint` names
  // what the run does (the pipeline); a journal written under another fingerprint is refused.
  static absl::StatusOr<std::unique_ptr<InPlaceRewrite>> Begin(const std::string& model_path,
                                                               const std::string& fingerprint);
  ~InPlaceRewrite();

  // The interrupted run had already replaced the model file: the journal is removed and there
  // is nothing left to do.
  bool finished_interrupted_run() const { return finished_; }
  // An interrupted run is being resumed.
  bool resuming() const { return resuming_; }

  // Runs the scheduled transforms on the data files (journaled), then writes `model` over the
  // model file atomically and removes the journal. External tensors keep their references.
  absl::Status Finish(const ExternalDataStore& store, onnx::ModelProto& model);

 private:
  InPlaceRewrite() = default;
  class Journal;
  std::string model_path_;
  std::string journal_path_;
  std::string fingerprint_;
  bool finished_ = false;
  bool resuming_ = false;
  std::set<ExternalRegion::Key> done_;
  std::unique_ptr<Journal> journal_;
};

// Test hook: with TFLAYOUT_TEST_CRASH_AT=N in the environment, the in-place path raises
// SIGKILL on itself at its N-th step (0-based) of the journal protocol. Returns the number of
// steps passed so far.
int64_t InPlaceCrashPoint();

}  // namespace tflayout
