// The journal of an --in-place run (lib/io/in_place.h): a header (written whole, then renamed
// into place) and records appended and fsync'd one by one. A BEGIN record carries the
// original bytes of the region about to be rewritten, so that an interrupted run can put them
// back; DONE marks a region rewritten, ABORT a rollback, COMMIT the hash of the new model file.
// Recovery (Open) parses the records and notes a torn trailing record.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "lib/io/external_region.h"
#include "lib/io/file_util.h"

namespace tflayout {

enum JournalRecordType : uint32_t { kBegin = 1, kDone = 2, kAbort = 3, kCommit = 4 };

class InPlaceJournal {
 public:
  struct Pending {
    ExternalRegion region;
    int64_t bytes_offset = 0;  // where the saved bytes start in the journal
    uint64_t bytes_hash = 0;
  };

  static absl::StatusOr<std::unique_ptr<InPlaceJournal>> Create(const std::string& path,
                                                          int64_t model_size,
                                                          uint64_t model_hash,
                                                          const std::string& fingerprint);

  // Parses an existing journal; a torn trailing record is noted (valid_end) and cut off by
  // Truncate().
  static absl::StatusOr<std::unique_ptr<InPlaceJournal>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t model_size() const { return model_size_; }
  uint64_t model_hash() const { return model_hash_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::set<ExternalRegion::Key>& done() const { return done_; }
  const std::optional<Pending>& pending() const { return pending_; }
  const std::optional<std::pair<int64_t, uint64_t>>& commit() const { return commit_; }

  // Cuts off a torn trailing record (appends must follow the last whole record).
  absl::Status Truncate();

  // Puts a pending tensor's saved bytes back into its data file (after checking them).
  absl::Status RollBack(const Pending pending);

  // BEGIN record with the region's current bytes, read from `data_fd`; fsync'd.
  absl::Status AppendBegin(const ExternalRegion& region, int data_fd);

  // A record without bytes (DONE, ABORT, COMMIT); fsync'd.
  absl::Status AppendSimple(uint32_t type, const std::string& rpath, int64_t a, int64_t b);

  // Frees the disk blocks of the last BEGIN's saved bytes (no longer needed once DONE is
  // durable); best effort, the record structure is unchanged.
  void DropLastBytes();

  absl::Status Remove();

 private:
  InPlaceJournal() = default;
  std::string path_;
  FileDescriptor fd_;
  int64_t end_ = 0;
  bool torn_ = false;
  int64_t model_size_ = 0;
  uint64_t model_hash_ = 0;
  std::string fingerprint_;
  std::set<ExternalRegion::Key> done_;
  std::optional<Pending> pending_;
  std::optional<std::pair<int64_t, uint64_t>> commit_;
  std::pair<int64_t, int64_t> last_bytes_{0, 0};
};

// Test hook: with TFLAYOUT_TEST_CRASH_AT=N in the environment, the in-place path raises
// SIGKILL on itself at its N-th step (0-based) of the journal protocol. Returns the number of
// steps passed so far.
int64_t InPlaceCrashPoint();

}  // namespace tflayout
