#include "lib/permute.h"

#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tflayout {
namespace {

absl::Status CheckShape(size_t element_size, int64_t a, int64_t b, int64_t s) {
  if (element_size == 0 || a < 0 || b < 0 || s < 0) {
    return absl::InvalidArgumentError(absl::StrCat("permute: invalid shape (", a, ", ", b, ", ",
                                                   s, ") x ", element_size, " bytes"));
  }
  const __int128 bytes = static_cast<__int128>(a) * b * s * element_size;
  if (bytes > std::numeric_limits<int64_t>::max()) {
    return absl::InvalidArgumentError("permute: array size overflows");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PermuteABSToSBAOutOfPlace(const void* src, void* dst, size_t element_size,
                                       int64_t a, int64_t b, int64_t s,
                                       const PermuteOptions& options) {
  if (absl::Status st = CheckShape(element_size, a, b, s); !st.ok()) return st;
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  // out[s][b][a] = in[a][b][s]
  for (int64_t ia = 0; ia < a; ++ia) {
    for (int64_t ib = 0; ib < b; ++ib) {
      const unsigned char* row = in + ((ia * b + ib) * s) * element_size;
      for (int64_t is = 0; is < s; ++is) {
        std::memcpy(out + ((is * b + ib) * a + ia) * element_size, row + is * element_size,
                    element_size);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PermuteABSToSBA(void* data, size_t element_size, int64_t a, int64_t b, int64_t s,
                             const PermuteOptions& options) {
  if (absl::Status st = CheckShape(element_size, a, b, s); !st.ok()) return st;
  if (a <= 1 || s <= 1) return absl::OkStatus();  // (1,B,S)->(S,B,1) is the same memory
  const size_t bytes = static_cast<size_t>(a * b * s) * element_size;
  std::vector<unsigned char> copy(static_cast<unsigned char*>(data),
                                  static_cast<unsigned char*>(data) + bytes);
  return PermuteABSToSBAOutOfPlace(copy.data(), data, element_size, a, b, s, options);
}

}  // namespace tflayout
