// The step records of --in-place tensors rewritten step by step (lib/io/journaled_permute.h):
// where a step starts and the bytes it is about to overwrite. Only the newest step matters to
// recovery, so the records alternate between two files beside the main journal
// (`<journal>.step0`, `<journal>.step1`), each overwritten from its start: the disk need is two
// steps (about a tile), whatever the size of the tensor. Each record carries a sequence number
// and a hash; recovery takes the valid record with the highest number (a torn newest record
// leaves the one before, whose step is then redone).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "lib/io/external_region.h"
#include "lib/io/file_util.h"

namespace tflayout {

class StepJournal {
 public:
  struct Record {
    ExternalRegion::Key key;  // the region being rewritten
    uint64_t sequence = 0;
    std::string payload;      // where the step starts and its saved bytes
  };

  explicit StepJournal(std::string journal_path) : journal_path_(std::move(journal_path)) {}

  // The newest valid record an interrupted run left, if any; the next Append continues its
  // sequence.
  absl::StatusOr<std::optional<Record>> ReadLast();

  // Writes a record (payload = head followed by n bytes) over the older of the two files and
  // syncs it.
  absl::Status Append(const ExternalRegion& region, const std::string& head, const char* bytes,
                      size_t n);

  // Frees both files' blocks (after the region's DONE is durable).
  absl::Status Clear();

  // Removes both files (before the main journal goes).
  absl::Status Remove();

  // Bytes the two files hold on disk now (allocated blocks).
  int64_t AllocatedBytes() const;

  std::string FilePath(int i) const { return journal_path_ + ".step" + std::to_string(i); }

 private:
  absl::Status OpenFiles();
  std::string journal_path_;
  FileDescriptor files_[2];
  uint64_t next_sequence_ = 1;
};

}  // namespace tflayout
