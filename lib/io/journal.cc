#include "lib/io/journal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/io/hasher.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

constexpr char kJournalMagic[8] = {'T', 'F', 'L', 'J', 'R', 'N', 'L', '1'};
constexpr uint32_t kRecordMagic = 0x524c4654;  // "TFLR"

void PutU32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

std::string RecordHead(uint32_t type, const std::string& path, int64_t a, int64_t b) {
  std::string s;
  PutU32(s, kRecordMagic);
  PutU32(s, type);
  PutU32(s, static_cast<uint32_t>(path.size()));
  s += path;
  PutU64(s, static_cast<uint64_t>(a));
  PutU64(s, static_cast<uint64_t>(b));
  return s;
}

std::atomic<int64_t> g_crash_steps{0};

}  // namespace

int64_t InPlaceCrashPoint() {
  static const int64_t crash_at = [] {
    const char* v = std::getenv("TFLAYOUT_TEST_CRASH_AT");
    return v == nullptr || *v == '\0' ? int64_t{-1} : std::strtoll(v, nullptr, 10);
  }();
  const int64_t step = g_crash_steps.fetch_add(1);
  if (step == crash_at) ::raise(SIGKILL);
  return step + 1;
}

absl::StatusOr<std::unique_ptr<InPlaceJournal>> InPlaceJournal::Create(const std::string& path,
                                                        int64_t model_size,
                                                        uint64_t model_hash,
                                                        const std::string& fingerprint) {
  std::string header(kJournalMagic, 8);
  PutU64(header, static_cast<uint64_t>(model_size));
  PutU64(header, model_hash);
  PutU32(header, static_cast<uint32_t>(fingerprint.size()));
  header += fingerprint;
  PutU64(header, HashBytes(header));
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> tmp, AtomicFile::Create(path));
  TFL_RETURN_IF_ERROR(WriteAll(tmp->fd(), header.data(), header.size(), path));
  TFL_RETURN_IF_ERROR(tmp->Commit());
  auto j = std::unique_ptr<InPlaceJournal>(new InPlaceJournal);
  j->path_ = path;
  j->fd_ = FileDescriptor(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (j->fd_.get() < 0) return ErrnoError("cannot open journal", path);
  j->end_ = static_cast<int64_t>(header.size());
  j->model_size_ = model_size;
  j->model_hash_ = model_hash;
  j->fingerprint_ = fingerprint;
  return j;
}

absl::StatusOr<std::unique_ptr<InPlaceJournal>> InPlaceJournal::Open(const std::string& path) {
  auto j = std::unique_ptr<InPlaceJournal>(new InPlaceJournal);
  j->path_ = path;
  j->fd_ = FileDescriptor(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (j->fd_.get() < 0) return ErrnoError("cannot open journal", path);
  struct stat st {};
  if (::fstat(j->fd_.get(), &st) != 0) return ErrnoError("cannot stat journal", path);
  const int64_t size = st.st_size;
  const int fd = j->fd_.get();
  auto corrupt = [&] {
    return absl::DataLossError(absl::StrCat(path, ": not a tflayout in-place journal"));
  };
  char fixed[8 + 8 + 8 + 4];
  if (size < static_cast<int64_t>(sizeof(fixed)) ||
      !PreadAll(fd, fixed, sizeof(fixed), 0, path).ok() ||
      std::memcmp(fixed, kJournalMagic, 8) != 0) {
    return corrupt();
  }
  uint64_t model_size, model_hash;
  uint32_t fp_len;
  std::memcpy(&model_size, fixed + 8, 8);
  std::memcpy(&model_hash, fixed + 16, 8);
  std::memcpy(&fp_len, fixed + 24, 4);
  if (fp_len > (1u << 20) || size < static_cast<int64_t>(sizeof(fixed) + fp_len + 8)) {
    return corrupt();
  }
  std::string header(fixed, sizeof(fixed));
  std::string fp(fp_len, '\0');
  uint64_t header_hash;
  if (!PreadAll(fd, fp.data(), fp_len, sizeof(fixed), path).ok() ||
      !PreadAll(fd, &header_hash, 8, sizeof(fixed) + fp_len, path).ok()) {
    return corrupt();
  }
  header += fp;
  if (HashBytes(header) != header_hash) return corrupt();
  j->model_size_ = static_cast<int64_t>(model_size);
  j->model_hash_ = model_hash;
  j->fingerprint_ = fp;

  int64_t pos = static_cast<int64_t>(header.size()) + 8;
  for (;;) {
    const int64_t start = pos;
    j->end_ = start;
    char head[12];
    if (pos + 12 > size || !PreadAll(fd, head, 12, pos, path).ok()) break;
    uint32_t magic, type, path_len;
    std::memcpy(&magic, head, 4);
    std::memcpy(&type, head + 4, 4);
    std::memcpy(&path_len, head + 8, 4);
    if (magic != kRecordMagic || path_len > 65536 || type < kBegin || type > kCommit) break;
    pos += 12;
    std::string rpath(path_len, '\0');
    int64_t a, b;
    if (pos + path_len + 16 > size || !PreadAll(fd, rpath.data(), path_len, pos, path).ok() ||
        !PreadAll(fd, &a, 8, pos + path_len, path).ok() ||
        !PreadAll(fd, &b, 8, pos + path_len + 8, path).ok()) {
      break;
    }
    pos += path_len + 16;
    std::string hashed = RecordHead(type, rpath, a, b);
    uint64_t bytes_hash = 0;
    int64_t bytes_offset = pos;
    if (type == kBegin) {
      if (b < 0 || pos + b + 8 > size) break;
      pos += b;
      if (!PreadAll(fd, &bytes_hash, 8, pos, path).ok()) break;
      pos += 8;
      PutU64(hashed, bytes_hash);
    }
    uint64_t record_hash;
    if (pos + 8 > size || !PreadAll(fd, &record_hash, 8, pos, path).ok()) break;
    pos += 8;
    if (HashBytes(hashed) != record_hash) break;
    const ExternalRegion::Key key{rpath, a, b};
    switch (type) {
      case kBegin: {
        Pending p;
        p.region.path = rpath;
        p.region.location = rpath;
        p.region.offset = a;
        p.region.length = b;
        p.bytes_offset = bytes_offset;
        p.bytes_hash = bytes_hash;
        j->pending_ = p;
        break;
      }
      case kDone:
        j->done_.insert(key);
        if (j->pending_ && j->pending_->region.key() == key) j->pending_.reset();
        break;
      case kAbort:
        if (j->pending_ && j->pending_->region.key() == key) j->pending_.reset();
        break;
      case kCommit:
        j->commit_ = std::make_pair(a, static_cast<uint64_t>(b));
        break;
    }
    j->end_ = pos;
  }
  j->torn_ = j->end_ < size;
  return j;
}

absl::Status InPlaceJournal::Truncate() {
  if (!torn_) return absl::OkStatus();
  if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0 || ::fsync(fd_.get()) != 0) {
    return ErrnoError("cannot truncate journal", path_);
  }
  torn_ = false;
  return absl::OkStatus();
}

absl::Status InPlaceJournal::RollBack(const Pending pending) {
  const Pending& p = pending;
  FileDescriptor data(::open(p.region.path.c_str(), O_RDWR | O_CLOEXEC));
  if (data.get() < 0) return ErrnoError("cannot open external data", p.region.path);
  struct stat st {};
  if (::fstat(data.get(), &st) != 0 || p.region.offset + p.region.length > st.st_size) {
    return absl::DataLossError(absl::StrCat(
        path_, ": the interrupted tensor's region no longer fits '", p.region.path, "'"));
  }
  std::string buf(static_cast<size_t>(std::min<int64_t>(p.region.length, kIoChunkBytes)), '\0');
  Hasher h;
  for (int64_t done = 0; done < p.region.length;) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(p.region.length - done, buf.size()));
    TFL_RETURN_IF_ERROR(PreadAll(fd_.get(), buf.data(), n, p.bytes_offset + done, path_));
    h.Update(buf.data(), n);
    done += static_cast<int64_t>(n);
  }
  if (h.Final() != p.bytes_hash) {
    return absl::DataLossError(
        absl::StrCat(path_, ": the saved bytes of the interrupted tensor are damaged"));
  }
  for (int64_t done = 0; done < p.region.length;) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(p.region.length - done, buf.size()));
    TFL_RETURN_IF_ERROR(PreadAll(fd_.get(), buf.data(), n, p.bytes_offset + done, path_));
    TFL_RETURN_IF_ERROR(PwriteAll(data.get(), buf.data(), n, p.region.offset + done,
                                  p.region.path));
    done += static_cast<int64_t>(n);
  }
  if (::fsync(data.get()) != 0) return ErrnoError("fsync failed", p.region.path);
  InPlaceCrashPoint();
  return AppendSimple(kAbort, p.region.path, p.region.offset, p.region.length);
}

absl::Status InPlaceJournal::AppendBegin(const ExternalRegion& region, int data_fd) {
  const std::string head = RecordHead(kBegin, region.path, region.offset, region.length);
  TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), head.data(), head.size(), end_, path_));
  int64_t pos = end_ + static_cast<int64_t>(head.size());
  const int64_t bytes_offset = pos;
  std::string buf(static_cast<size_t>(std::min<int64_t>(region.length, kIoChunkBytes)), '\0');
  Hasher h;
  bool crashed_half = false;
  for (int64_t done = 0; done < region.length;) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(region.length - done, buf.size()));
    TFL_RETURN_IF_ERROR(PreadAll(data_fd, buf.data(), n, region.offset + done, region.path));
    h.Update(buf.data(), n);
    TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), buf.data(), n, pos, path_));
    pos += static_cast<int64_t>(n);
    done += static_cast<int64_t>(n);
    if (!crashed_half) {  // a torn record: part of the bytes, no trailer
      crashed_half = true;
      InPlaceCrashPoint();
    }
  }
  const uint64_t bytes_hash = h.Final();
  std::string trailer;
  PutU64(trailer, bytes_hash);
  std::string hashed = head;
  PutU64(hashed, bytes_hash);
  PutU64(trailer, HashBytes(hashed));
  TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), trailer.data(), trailer.size(), pos, path_));
  if (::fsync(fd_.get()) != 0) return ErrnoError("fsync failed", path_);
  last_bytes_ = {bytes_offset, region.length};
  pending_ = Pending{region, bytes_offset, bytes_hash};
  end_ = pos + static_cast<int64_t>(trailer.size());
  return absl::OkStatus();
}

absl::Status InPlaceJournal::AppendSimple(uint32_t type, const std::string& rpath, int64_t a, int64_t b) {
  std::string rec = RecordHead(type, rpath, a, b);
  PutU64(rec, HashBytes(rec));
  TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), rec.data(), rec.size(), end_, path_));
  if (::fsync(fd_.get()) != 0) return ErrnoError("fsync failed", path_);
  end_ += static_cast<int64_t>(rec.size());
  if (type == kDone || type == kAbort) pending_.reset();
  return absl::OkStatus();
}

void InPlaceJournal::DropLastBytes() {
  if (last_bytes_.second > 0) {
    (void)::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(last_bytes_.first),
                      static_cast<off_t>(last_bytes_.second));
  }
  last_bytes_ = {0, 0};
}

absl::Status InPlaceJournal::Remove() {
  fd_ = FileDescriptor();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("cannot remove journal", path_);
  }
  SyncDir(DirOf(path_));
  return absl::OkStatus();
}

}  // namespace tflayout
