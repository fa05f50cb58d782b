// Moving a weight that is permuted (A, B, S) -> (S, B, A) from one file to another, tile by
// tile, so that memory is a few tiles whatever the size of the tensor.
//
// A tile is a box of (ta, tb, ts) elements of the input, permuted by the out-of-place kernel
// into (ts, tb, ta) and written with one pwrite per contiguous run of the output (per s:
// tb * A elements when ta == A, else ta). The box takes whole rows on both sides when A * S
// elements fit a tile, else a near-square ta x ts with tb = 1, so that no run is much shorter
// than sqrt(tile) elements.
//
// Where the input comes from depends on the tensor's size:
//   * up to two tiles: the whole tensor, through a read-only mapping of its pages (the kernels
//     read elements at any byte offset), or with one pread into a reused source buffer where
//     mmap fails; boxes of a small chunk (1 MiB, at most a tile) are permuted from there
//     (PermuteBoxOutOfPlace), so that each permuted chunk is still in the cache when it is
//     written. The mapping is removed when the tensor is done: resident memory stays two
//     tiles for the source;
//   * larger: each tile is read with one pread per contiguous run of the input (per a:
//     tb * S elements when ts == S, else ts) into the source buffer, then permuted. Not mapped:
//     a tile reads A scattered runs of the input, and a mapping would count every page they
//     touch.
//
// Writing goes through a WriteBehind (lib/io/write_behind.h): with two threads or more, a writer
// thread copies the permuted chunks into the output while the next ones are permuted.
// Memory: the source buffer or mapping (two tiles at most each) and three output buffers of a
// tile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/io/page_buffer.h"
#include "lib/io/write_behind.h"
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

// Moves permuted tensors from one file into another; one object serves every tensor written to
// an output, so that its buffers are allocated and faulted in once and writing one tensor's last
// tile overlaps with reading the next.
class FilePermuter {
 public:
  // threads >= 2: a writer thread (see above); threads > 2 also split large tiles' permutes.
  static absl::StatusOr<std::unique_ptr<FilePermuter>> Create(size_t tile_bytes, int threads);

  // Reads permute.a * permute.b * permute.s elements of `element_size` bytes at `from`, and
  // queues them permuted (A, B, S) -> (S, B, A) for `to` (which must not overlap them). The
  // bytes are in the file once Finish returns; `to` must stay open until then.
  absl::Status Permute(const FileSpot& from, const FileSpot& to, size_t element_size,
                       const WeightStore::Permute& permute);
  // Waits until everything is written; the first error.
  absl::Status Finish() { return writer_->Drain(); }

 private:
  FilePermuter(size_t tile_bytes, int threads, std::unique_ptr<WriteBehind> writer)
      : tile_bytes_(tile_bytes), threads_(threads), writer_(std::move(writer)) {}
  absl::Status EnsureSource(size_t bytes);
  // Queues tile `t` at (a0, b0, s0), permuted from `src` (row a of the tile src_row elements
  // after row a - 1).
  absl::Status PermuteTile(const char* src, int64_t src_row, const FileSpot& to,
                           size_t element_size, const WeightStore::Permute& p, int64_t a0,
                           int64_t b0, int64_t s0, const TileShape& t, int threads);

  size_t tile_bytes_;
  int threads_;
  std::unique_ptr<WriteBehind> writer_;
  PageBuffer source_;
};

// One tensor through a FilePermuter of its own (permute.options.num_threads threads).
absl::Status PermuteBetweenFiles(const FileSpot& from, const FileSpot& to, size_t element_size,
                                 const WeightStore::Permute& permute, size_t tile_bytes);

}  // namespace tflayout
