// --in-place: rewrites the input's data files where they are, one tensor at a time, and
// replaces the model file atomically. A tensor up to a tile (8 MiB) is transformed through a
// MAP_SHARED map of its region and journaled whole; a permuted tensor larger than a tile moves
// step by step with pread/pwrite, each step journaled (lib/io/journaled_permute.h), so that
// neither memory nor the journal grows with the tensor. A journal beside the model
// (`<model>.tflayout-journal`, lib/io/journal.h) makes it safe to kill at any moment:
//
//     journal created (header: hash of the original model file, pipeline fingerprint)
//     per tensor up to a tile: BEGIN record + the tensor's original bytes, fsync
//                 map, transform, msync, unmap
//                 DONE record, fsync; the saved bytes are punched out of the journal
//     per larger permuted tensor: per step, a step record (where the step starts + the bytes
//                 it overwrites) over the older of two files (lib/io/step_journal.h), fsync;
//                 the step's writes; fdatasync. Then DONE, fsync; the step files emptied.
//     COMMIT record (hash of the new model file), fsync
//     model file replaced (temporary file + fsync + rename)
//     journal removed
//
// On the next --in-place run, recovery reads the journal: a torn trailing record is cut off; a
// BEGIN without DONE is rolled back from its saved bytes (an ABORT record follows); the newest
// step record of a tensor without DONE is undone from its saved bytes and the tensor continues
// from that step; DONE
// tensors are already rewritten, so the rerun of the pipeline (deterministic on the unchanged
// model file) skips their transforms; when the model file already hashes to the COMMIT
// record, only the journal is left to remove. A journal whose original-model hash matches
// neither is refused, as is a rerun with a different pipeline.
#pragma once

#include <memory>
#include <optional>
#include <utility>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "lib/io/external_data_store.h"
#include "lib/io/journal.h"
#include "lib/io/step_journal.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

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
  explicit InPlaceRewrite(const std::string& journal_path) : steps_(journal_path) {}
  std::string model_path_;
  std::string journal_path_;
  std::string fingerprint_;
  bool finished_ = false;
  bool resuming_ = false;
  std::set<ExternalRegion::Key> done_;
  std::unique_ptr<InPlaceJournal> journal_;
  StepJournal steps_;
  // The region an interrupted run was permuting step by step, and its last step's record.
  std::optional<std::pair<ExternalRegion::Key, std::string>> resume_step_;
};

}  // namespace tflayout
