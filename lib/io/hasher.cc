#include "lib/io/hasher.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/io/file_util.h"

namespace tflayout {
namespace {

uint64_t Step(uint64_t h, uint64_t w) {
  w *= 0x87c37b91114253d5ULL;
  w = (w << 31) | (w >> 33);
  w *= 0x4cf5ad432745937fULL;
  h ^= w;
  h = (h << 27) | (h >> 37);
  return h * 5 + 0x52dce729;
}

}  // namespace

void Hasher::Mix(uint64_t w) { h_ = Step(h_, w); }

void Hasher::Update(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += size;
  while (size > 0 && tail_len_ > 0 && tail_len_ < 8) {
    tail_[tail_len_++] = *p++;
    --size;
    if (tail_len_ == 8) {
      uint64_t w;
      std::memcpy(&w, tail_, 8);
      Mix(w);
      tail_len_ = 0;
    }
  }
  while (size >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    Mix(w);
    p += 8;
    size -= 8;
  }
  while (size > 0) {
    tail_[tail_len_++] = *p++;
    --size;
  }
}

uint64_t Hasher::Final() const {
  uint64_t h = h_;
  uint64_t w = 0;
  std::memcpy(&w, tail_, tail_len_);
  h = Step(h, w ^ (static_cast<uint64_t>(tail_len_) << 56));
  h ^= total_;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t HashBytes(absl::string_view bytes) {
  Hasher h;
  h.Update(bytes.data(), bytes.size());
  return h.Final();
}

absl::StatusOr<std::pair<int64_t, uint64_t>> HashFile(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open", path);
  std::string buf(kIoChunkBytes, '\0');
  Hasher h;
  int64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read failed", path);
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += n;
  }
  return std::make_pair(total, h.Final());
}

}  // namespace tflayout
