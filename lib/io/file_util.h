// POSIX file helpers shared by model I/O and the external-data store: errno as absl::Status
// (naming the path), an owning file descriptor, whole-buffer reads and writes, and a file that
// appears at its destination only when complete.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tflayout {

// "<path>: <what>: <strerror(errno)>", with a code that tells missing, forbidden and full apart.
absl::Status ErrnoError(absl::string_view what, const std::string& path);

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();
  int get() const { return fd_; }

 private:
  int fd_;
};

// The folder holding `path` ("." for a bare file name).
std::string DirOf(const std::string& path);
// fsyncs a folder so that a rename inside it is durable; best effort.
void SyncDir(const std::string& dir);

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path);
absl::Status PreadAll(int fd, void* data, size_t size, int64_t offset, const std::string& path);
absl::Status PwriteAll(int fd, const void* data, size_t size, int64_t offset,
                       const std::string& path);
// pwritev of every byte of `iov` at `offset`, continuing after short writes.
absl::Status PwritevAll(int fd, std::vector<iovec> iov, int64_t offset, const std::string& path);

// Bounded buffer size for chunked file copies, hashes and journal I/O.
inline constexpr size_t kIoChunkBytes = size_t{4} << 20;

// Copies `length` bytes from in_fd at `offset` to the current position of out_fd, in the
// kernel where it can (copy_file_range), else through a bounded buffer.
absl::Status CopyRange(int in_fd, const std::string& in_path, int64_t offset, int64_t length,
                       int out_fd, const std::string& out_path);

// A file written under a hidden temporary name beside its destination
// (".NAME.tmp.XXXXXX"); Commit() renames it into place. Destroyed uncommitted, it removes the
// temporary file: whatever happens to the process, an output is complete or absent.
// With `sync`, Commit() also fsyncs the file before the rename and its folder after, so that
// the same holds after a power loss (the journaled --in-place run needs that ordering); without
// it, the kernel writes the pages back when it would for any copy (cp, cat), and a machine
// that loses power soon after may show the new name with some of its blocks not yet written.
class AtomicFile {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(const std::string& path,
                                                            bool sync = true);
  ~AtomicFile();
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  absl::Status WriteAll(const void* data, size_t size) {
    return tflayout::WriteAll(fd_.get(), data, size, path_);
  }
  // Allocates disk blocks for [offset, offset + bytes) up front (the file's size is unchanged):
  // a full disk is reported before anything is written, and buffered writes into allocated
  // blocks are faster on ext4 (no block allocation in the write path).
  // A filesystem without fallocate skips it.
  absl::Status Reserve(int64_t offset, int64_t bytes);
  absl::Status Commit();

 private:
  AtomicFile(std::string path, std::string tmp, int fd, bool sync)
      : path_(std::move(path)), tmp_path_(std::move(tmp)), fd_(fd), sync_(sync) {}
  std::string path_;
  std::string tmp_path_;
  FileDescriptor fd_;
  bool sync_;
  bool committed_ = false;
};

}  // namespace tflayout
