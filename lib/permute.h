// The one data movement of the library: a row-major array of shape (A, B, S) becomes (S, B, A).
//
// For a ConvTranspose weight, A = C_in, B = C_out / group and S = k1 * ... * kn, so ONNX's
// (C, M/g, k...) becomes TensorFlow's (k..., M/g, C). The inverse rewrite is the same call with
// A and S exchanged: (S, B, A) -> (A, B, S).
//
// Memory: the in-place path uses at most PermuteOptions::max_scratch_bytes of scratch (default
// 2 MiB) plus one bit per block of the array for bookkeeping (see permute.cc), never a second
// copy of the array.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace tflayout {

struct PermuteOptions {
  // Worker threads; 1 runs on the calling thread only.
  int num_threads = 1;
  // Upper bound for the in-place path's scratch buffer.
  size_t max_scratch_bytes = size_t{2} << 20;
};

// In place. element_size may be any positive size; 1, 2, 4 and 8 bytes have fast kernels.
// Fails (leaving data untouched) on negative dims or a byte size that overflows.
absl::Status PermuteABSToSBA(void* data, size_t element_size, int64_t a, int64_t b, int64_t s,
                             const PermuteOptions& options = {});

// Out of place: dst must hold a*b*s elements and must not overlap src.
absl::Status PermuteABSToSBAOutOfPlace(const void* src, void* dst, size_t element_size,
                                       int64_t a, int64_t b, int64_t s,
                                       const PermuteOptions& options = {});

}  // namespace tflayout
