// The one data movement of the library: a row-major array of shape (A, B, S) becomes (S, B, A),
// i.e. out[s][b][a] = in[a][b][s].
//
// For a ConvTranspose weight, A = C_in, B = C_out / group and S = k1 * ... * kn, so ONNX's
// (C, M/g, k...) becomes TensorFlow's (k..., M/g, C). The inverse rewrite is the same call with
// A and S exchanged: (S, B, A) -> (A, B, S).
//
// Note that a dimension of 1 does not make the permutation trivial: (1, B, S) -> (S, B, 1) is a
// B x S transpose and (A, B, 1) -> (1, B, A) an A x B transpose. Memory is unchanged only when
// at most one of A, B, S exceeds 1.
//
// In-place scheme (permute.cc), after folding a dimension of 1 as above:
//   * whole array <= scratch: copy into scratch, permute back out of place;
//   * A == S: one pass of K x K tile swaps per b (no heap scratch);
//   * otherwise two passes. With Ta the largest divisor of A with Ta*B*S*element_size <=
//     scratch / threads, (1) each panel of Ta rows goes through scratch, (Ta,B,S)->(S,B,Ta), and
//     (2) the A/Ta x (S*B) matrix of contiguous Ta-element blocks is transposed by following
//     cycles with one visited bit per block (the moves of all cycles as one stream, prefetched
//     a few KiB ahead across cycle boundaries, since most cycles are short). Symmetrically on the S side (blocks of Ts | S
//     elements, then panels) when that gives bigger blocks. When A has no usable divisor, the
//     first A - A % Ta rows are permuted that way and the last rows merged in by one extra pass.
//     If no single row or column fits the scratch, B is split off first ((A,B,S)->(B,A,S)->
//     (B,S,A)->(S,B,A), blocks of S then of A elements) and, only when B == 1 and both
//     min(A, S) * element_size exceed the scratch, blocks are single elements.
//   * when the scratch leaves blocks of under 128 bytes (a slow block pass: 32-byte blocks move at
//     a sixth of the rate of 1-4 KiB ones), Ta / Ts are chosen for panels of up to half the L3
//     cache (sysconf; at most 16 MiB, 8 MiB if unknown) divided by the threads, and each such
//     panel is itself permuted in place by the scheme above (recursively once, through the same
//     scratch) while it stays in L3.
//
// Memory bound of the in-place path, exactly:
//   heap scratch <= max(max_scratch_bytes, kMinPermuteScratchBytes) in total over all threads
//   + visited bitsets of ceil(n_blocks / 64) * 8 bytes, block = the Ta / Ts of that pass (>= 1
//     element; for usual weights tens to hundreds of elements): one at a time for a pass over
//     the whole array (n_blocks = A*B*S / block), or, while large panels are permuted in place,
//     one per thread (n_blocks = the panel's elements / block, a panel being at most half the
//     L3 / threads bytes: together at most L3 / 16 / element_size bytes + 8 per thread)
//   + on each worker's stack, under 33 KiB at a time: the row kernels' two 16 KiB tiles, the square
//     path's one K x K tile of <= 1 KiB, or the cycle pass's queue of 64 block indices (512 B);
//     with threads, the std::thread stacks.
// Never a second copy of the array. The calling thread keeps its scratch buffer (<= 4 MiB) for
// its next call rather than freeing it: per-tensor allocations fragmented glibc's heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace tflayout {

// The in-place path never uses less scratch than this, whatever max_scratch_bytes says.
inline constexpr size_t kMinPermuteScratchBytes = 64;

struct PermuteOptions {
  // Worker threads; 1 runs on the calling thread only. Results are identical for any count.
  int num_threads = 1;
  // Upper bound for the in-place path's heap scratch, all threads together (see above).
  size_t max_scratch_bytes = size_t{2} << 20;
  // Non-temporal stores in the out-of-place path. kAuto: when the array is >= 4 MiB.
  enum class Streaming { kAuto, kNever, kAlways };
  Streaming streaming_stores = Streaming::kAuto;
};

// In place. element_size may be any positive size; 1, 2, 4 and 8 bytes have SIMD kernels.
// `data` may be at any byte address.
// Fails (leaving data untouched) on negative dims, element_size 0 or a byte size that overflows.
// Returns ResourceExhausted if scratch cannot be allocated (data then unspecified).
absl::Status PermuteABSToSBA(void* data, size_t element_size, int64_t a, int64_t b, int64_t s,
                             const PermuteOptions& options = {});

// Out of place: dst must hold a*b*s elements and must not overlap src. src and dst may be at any
// byte address (a payload in a memory-mapped file need not be aligned to its element size).
absl::Status PermuteABSToSBAOutOfPlace(const void* src, void* dst, size_t element_size,
                                       int64_t a, int64_t b, int64_t s,
                                       const PermuteOptions& options = {});

// Out of place, from a box of a larger array: row a of the source (its b * s elements) starts
// src_row >= b * s elements after row a - 1, and dst receives the contiguous (s, b, a) result.
// E.g. the slice [b0, b1) of every row of an (A, B, S) array `base`: src = base + b0 * S
// elements, src_row = B * S, b = b1 - b0.
absl::Status PermuteBoxOutOfPlace(const void* src, int64_t src_row, void* dst,
                                  size_t element_size, int64_t a, int64_t b, int64_t s,
                                  const PermuteOptions& options = {});

// The micro-kernel set picked at run time: "avx512" (F+BW+VL+DQ), "avx2", "sse2" or "scalar"
// (the environment variable TFLAYOUT_PERMUTE_ISA=avx2|sse2|scalar forces a lesser one, for
// testing).
const char* PermuteKernelIsa();

}  // namespace tflayout
