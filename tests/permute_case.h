// A permute test case shared by the file-backed permute tests (tiled_permute_test,
// journaled_permute_test): an (A, B, S) tensor of random bytes and what the in-memory
// out-of-place kernel makes of it, the reference both file paths must equal byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "tflayout/permute.h"
#include "tests/test_util.h"

namespace tflayout::testing {

struct PermuteCase {
  int64_t a, b, s;
  size_t element_size;
  size_t tile_bytes;

  size_t Bytes() const { return static_cast<size_t>(a * b * s) * element_size; }
  // Random input (seeded by its size) and the kernel's (S, B, A) result; false if the kernel
  // refused the case.
  bool InputAndExpected(std::string& input, std::string& want) const {
    input = RandomBytes(Bytes(), static_cast<uint32_t>(Bytes()));
    want.assign(Bytes(), '\0');
    return PermuteABSToSBAOutOfPlace(input.data(), want.data(), element_size, a, b, s).ok();
  }
};

inline std::ostream& operator<<(std::ostream& os, const PermuteCase& c) {
  return os << "A=" << c.a << " B=" << c.b << " S=" << c.s << " elem=" << c.element_size
            << " tile=" << c.tile_bytes;
}

}  // namespace tflayout::testing
