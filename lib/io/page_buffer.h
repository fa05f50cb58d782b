// A heap-free buffer: anonymous pages mapped for it and returned to the system when it goes, so
// a tensor-sized buffer does not linger in malloc's arenas after use.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tflayout {

class PageBuffer {
 public:
  static absl::StatusOr<PageBuffer> Allocate(size_t size) {
    PageBuffer b;
    b.size_ = size;
    if (size == 0) return b;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", size, " bytes"));
    }
    b.data_ = static_cast<char*>(p);
    return b;
  }
  PageBuffer() = default;
  PageBuffer(PageBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  PageBuffer& operator=(PageBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  ~PageBuffer() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tflayout
