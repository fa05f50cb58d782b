#include "lib/io/step_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/io/hasher.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

constexpr char kStepMagic[8] = {'T', 'F', 'L', 'S', 'T', 'E', 'P', '1'};

void PutU64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

// magic, sequence, path length, path, offset, length, payload length
std::string RecordHead(uint64_t sequence, const ExternalRegion::Key& key, uint64_t payload) {
  std::string s(kStepMagic, 8);
  PutU64(s, sequence);
  PutU64(s, std::get<0>(key).size());
  s += std::get<0>(key);
  PutU64(s, static_cast<uint64_t>(std::get<1>(key)));
  PutU64(s, static_cast<uint64_t>(std::get<2>(key)));
  PutU64(s, payload);
  return s;
}

// The record in one file, if whole and valid.
std::optional<StepJournal::Record> ReadRecord(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  const int64_t size = st.st_size;
  uint64_t fixed[3];  // magic, sequence, path length
  if (size < 24 || !PreadAll(fd.get(), fixed, 24, 0, path).ok() ||
      std::memcmp(fixed, kStepMagic, 8) != 0 || fixed[2] > 65536) {
    return std::nullopt;
  }
  int64_t pos = 24;
  std::string rpath(fixed[2], '\0');
  int64_t offset, length;
  uint64_t payload_length;
  if (pos + static_cast<int64_t>(fixed[2]) + 24 > size ||
      !PreadAll(fd.get(), rpath.data(), rpath.size(), pos, path).ok()) {
    return std::nullopt;
  }
  pos += static_cast<int64_t>(rpath.size());
  if (!PreadAll(fd.get(), &offset, 8, pos, path).ok() ||
      !PreadAll(fd.get(), &length, 8, pos + 8, path).ok() ||
      !PreadAll(fd.get(), &payload_length, 8, pos + 16, path).ok()) {
    return std::nullopt;
  }
  pos += 24;
  if (payload_length > static_cast<uint64_t>(size - pos) ||
      static_cast<uint64_t>(size - pos) - payload_length < 8) {
    return std::nullopt;
  }
  StepJournal::Record r;
  r.key = {rpath, offset, length};
  r.sequence = fixed[1];
  r.payload.resize(payload_length);
  uint64_t hash;
  if (!PreadAll(fd.get(), r.payload.data(), r.payload.size(), pos, path).ok() ||
      !PreadAll(fd.get(), &hash, 8, pos + static_cast<int64_t>(payload_length), path).ok()) {
    return std::nullopt;
  }
  Hasher h;
  const std::string head = RecordHead(r.sequence, r.key, payload_length);
  h.Update(head.data(), head.size());
  h.Update(r.payload.data(), r.payload.size());
  if (h.Final() != hash) return std::nullopt;
  return r;
}

}  // namespace

absl::StatusOr<std::optional<StepJournal::Record>> StepJournal::ReadLast() {
  std::optional<Record> last;
  for (int i = 0; i < 2; ++i) {
    std::optional<Record> r = ReadRecord(FilePath(i));
    if (r && (!last || r->sequence > last->sequence)) last = std::move(r);
  }
  if (last) next_sequence_ = last->sequence + 1;
  return last;
}

absl::Status StepJournal::OpenFiles() {
  if (files_[0].get() >= 0) return absl::OkStatus();
  for (int i = 0; i < 2; ++i) {
    const std::string path = FilePath(i);
    files_[i] = FileDescriptor(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (files_[i].get() < 0) return ErrnoError("cannot create journal", path);
  }
  SyncDir(DirOf(journal_path_));
  return absl::OkStatus();
}

absl::Status StepJournal::Append(const ExternalRegion& region, const std::string& head,
                                 const char* bytes, size_t n) {
  TFL_RETURN_IF_ERROR(OpenFiles());
  const uint64_t sequence = next_sequence_++;
  const int fd = files_[sequence % 2].get();
  const std::string path = FilePath(static_cast<int>(sequence % 2));
  const std::string rec = RecordHead(sequence, region.key(), head.size() + n);
  Hasher h;
  h.Update(rec.data(), rec.size());
  h.Update(head.data(), head.size());
  h.Update(bytes, n);
  const uint64_t hash = h.Final();
  int64_t pos = 0;
  for (const auto& [data, size] : {std::pair<const char*, size_t>{rec.data(), rec.size()},
                                   {head.data(), head.size()},
                                   {bytes, n},
                                   {reinterpret_cast<const char*>(&hash), size_t{8}}}) {
    TFL_RETURN_IF_ERROR(PwriteAll(fd, data, size, pos, path));
    pos += static_cast<int64_t>(size);
  }
  // The file keeps no tail of a longer older record (its size is the record's).
  if (::ftruncate(fd, static_cast<off_t>(pos)) != 0 || ::fsync(fd) != 0) {
    return ErrnoError("cannot sync journal", path);
  }
  return absl::OkStatus();
}

absl::Status StepJournal::Clear() {
  TFL_RETURN_IF_ERROR(OpenFiles());
  for (int i = 0; i < 2; ++i) {
    if (::ftruncate(files_[i].get(), 0) != 0 || ::fsync(files_[i].get()) != 0) {
      return ErrnoError("cannot truncate journal", FilePath(i));
    }
  }
  return absl::OkStatus();
}

absl::Status StepJournal::Remove() {
  for (int i = 0; i < 2; ++i) {
    files_[i] = FileDescriptor();
    if (::unlink(FilePath(i).c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("cannot remove journal", FilePath(i));
    }
  }
  return absl::OkStatus();
}

int64_t StepJournal::AllocatedBytes() const {
  int64_t total = 0;
  for (int i = 0; i < 2; ++i) {
    struct stat st {};
    if (::stat(FilePath(i).c_str(), &st) == 0) total += static_cast<int64_t>(st.st_blocks) * 512;
  }
  return total;
}

}  // namespace tflayout
