// Moving a weight that is permuted (A, B, S) -> (S, B, A) from one file to another, tile by
// tile, so that memory is two tiles whatever the size of the tensor.
//
// A tile is a box of (ta, tb, ts) elements of the input: read with one pread per contiguous run
// (per a: tb * S elements when ts == S, else ts), permuted in memory by the out-of-place kernel
// (PermuteABSToSBAOutOfPlace, (ta, tb, ts) -> (ts, tb, ta)), and written with one pwrite per
// contiguous run of the output (per s: tb * A elements when ta == A, else ta). The box takes
// whole rows on both sides when A * S elements fit a tile, else a near-square ta x ts with
// tb = 1, so that no run is much shorter than sqrt(tile) elements.
//
// The page cache holds what the file system reads and writes; no file is mapped, so the
// process's resident memory is its two tile buffers (pread/pwrite rather than mmap: a mapping
// would count every page a tile touches, and a tile touches A scattered runs of the input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tflayout/pass.h"

namespace tflayout {

// Bytes per tile buffer: 8 MiB, or TFLAYOUT_TEST_TILE_BYTES from the environment (tests use
// small tiles to reach the tiled paths with small tensors).
size_t TileBytes();

// The tile's extent along A, B and S (see above) for `tile_bytes` per buffer.
struct TileShape {
  int64_t a = 0, b = 0, s = 0;
};
TileShape ChooseTile(int64_t a, int64_t b, int64_t s, size_t element_size, size_t tile_bytes);

// A place in a file.
struct FileSpot {
  int fd = -1;
  std::string path;  // for messages
  int64_t offset = 0;
};

// Reads permute.a * permute.b * permute.s elements of `element_size` bytes at `from`, and
// writes them permuted (A, B, S) -> (S, B, A) at `to` (which must not overlap them).
absl::Status PermuteBetweenFiles(const FileSpot& from, const FileSpot& to, size_t element_size,
                                 const WeightStore::Permute& permute, size_t tile_bytes);

}  // namespace tflayout
