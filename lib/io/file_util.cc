#include "lib/io/file_util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tflayout/status.h"

namespace tflayout {

namespace fs = std::filesystem;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message = absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::UnavailableError(message);
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

std::string DirOf(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

void SyncDir(const std::string& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, std::min<size_t>(size, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write failed", path);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PreadAll(int fd, void* data, size_t size, int64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read failed", path);
    if (n == 0) return absl::OutOfRangeError(absl::StrCat(path, ": unexpected end of file"));
    p += n;
    offset += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PwriteAll(int fd, const void* data, size_t size, int64_t offset,
                       const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write failed", path);
    p += n;
    offset += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PwritevAll(int fd, std::vector<iovec> iov, int64_t offset, const std::string& path) {
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = ::pwritev(fd, iov.data() + first, count, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write failed", path);
    offset += n;
    for (size_t left = static_cast<size_t>(n); left > 0;) {  // skip what was written
      const size_t step = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + step;
      iov[first].iov_len -= step;
      left -= step;
      if (iov[first].iov_len == 0) ++first;
    }
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
  }
  return absl::OkStatus();
}

absl::Status CopyRange(int in_fd, const std::string& in_path, int64_t offset, int64_t length,
                       int out_fd, const std::string& out_path) {
  loff_t in_off = offset;
  int64_t left = length;
  while (left > 0) {
    const ssize_t n = ::copy_file_range(in_fd, &in_off, out_fd, nullptr,
                                        static_cast<size_t>(std::min<int64_t>(left, 1 << 30)), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // unsupported here, or EOF: finish below
    left -= n;
  }
  if (left == 0) return absl::OkStatus();
  std::string buf(static_cast<size_t>(std::min<int64_t>(left, kIoChunkBytes)), '\0');
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(left, buf.size()));
    TFL_RETURN_IF_ERROR(PreadAll(in_fd, buf.data(), n, in_off, in_path));
    TFL_RETURN_IF_ERROR(WriteAll(out_fd, buf.data(), n, out_path));
    in_off += static_cast<loff_t>(n);
    left -= static_cast<int64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path,
                                                                bool sync) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return ErrnoError("cannot create output file", path);
  ::fchmod(fd, 0644);
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, tmpl, fd, sync));
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(tmp_path_.c_str());
}

absl::Status AtomicFile::Reserve(int64_t offset, int64_t bytes) {
  if (bytes <= 0) return absl::OkStatus();
  while (::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(bytes)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return absl::OkStatus();
    return ErrnoError(absl::StrCat("cannot allocate ", bytes, " bytes for the output"), path_);
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (sync_ && ::fsync(fd_.get()) != 0) return ErrnoError("fsync failed", path_);
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) return ErrnoError("rename failed", path_);
  committed_ = true;
  if (sync_) SyncDir(DirOf(path_));
  return absl::OkStatus();
}

}  // namespace tflayout
