// A 64-bit hash for integrity checks of journal records and model files (not cryptographic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tflayout {

class Hasher {
 public:
  void Update(const void* data, size_t size);
  uint64_t Final() const;

 private:
  void Mix(uint64_t w);
  uint64_t h_ = 0x9E3779B97F4A7C15ULL;
  uint64_t total_ = 0;
  unsigned char tail_[8] = {};
  size_t tail_len_ = 0;
};

uint64_t HashBytes(absl::string_view bytes);

// (size, hash) of a whole file, read in bounded chunks.
absl::StatusOr<std::pair<int64_t, uint64_t>> HashFile(const std::string& path);

}  // namespace tflayout
