#include "lib/io/tiled_permute.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "lib/io/page_buffer.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"

namespace tflayout {

size_t TileBytes() {
  static const size_t bytes = [] {
    const char* v = std::getenv("TFLAYOUT_TEST_TILE_BYTES");
    const long long n = v == nullptr ? 0 : std::atoll(v);
    return n > 0 ? static_cast<size_t>(n) : size_t{8} << 20;
  }();
  return bytes;
}

TileShape ChooseTile(int64_t a, int64_t b, int64_t s, size_t element_size,
                     size_t tile_bytes) {
  const int64_t elements = std::max<int64_t>(1, static_cast<int64_t>(tile_bytes / element_size));
  if (a <= elements / std::max<int64_t>(s, 1)) {  // whole rows on both sides
    return {a, std::clamp<int64_t>(elements / std::max<int64_t>(a * s, 1), 1, b), s};
  }
  const int64_t side = std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(double(elements))));
  if (a <= side) return {a, 1, std::min(s, elements / a)};
  if (s <= side) return {std::min(a, elements / s), 1, s};
  return {side, 1, side};
}

namespace {

// Reads the input box [a0, a0 + ta) x [b0, b0 + tb) x [s0, s0 + ts) into `tile` as (ta, tb, ts).
absl::Status ReadTile(const FileSpot& from, size_t elem, const WeightStore::Permute& p,
                      int64_t a0, int64_t b0, int64_t s0, const TileShape& t, char* tile) {
  const int64_t run = t.s == p.s ? t.b * p.s : t.s;  // contiguous elements per read
  const int64_t runs_per_a = t.s == p.s ? 1 : t.b;
  for (int64_t a = 0; a < t.a; ++a) {
    for (int64_t r = 0; r < runs_per_a; ++r) {
      const int64_t first = ((a0 + a) * p.b + b0 + r) * p.s + s0;
      char* dst = tile + static_cast<size_t>((a * t.b + r) * t.s) * elem;
      TFL_RETURN_IF_ERROR(PreadAll(from.fd, dst, static_cast<size_t>(run) * elem,
                                   from.offset + first * static_cast<int64_t>(elem), from.path));
    }
  }
  return absl::OkStatus();
}

// The output runs of tile `t` at (a0, b0, s0) as pieces of `batch`: the tile is (ts, tb, ta) in
// the buffer from byte `shift` on, and goes to the output box [s0, s0 + ts) x [b0, b0 + tb) x
// [a0, a0 + ta); runs that follow each other in both are merged.
void AddTilePieces(const FileSpot& to, size_t elem, const WeightStore::Permute& p, int64_t a0,
                   int64_t b0, int64_t s0, const TileShape& t, size_t shift,
                   WriteBehind::Batch& batch) {
  const int64_t run = t.a == p.a ? t.b * p.a : t.a;
  const int64_t runs_per_s = t.a == p.a ? 1 : t.b;
  for (int64_t s = 0; s < t.s; ++s) {
    for (int64_t r = 0; r < runs_per_s; ++r) {
      const int64_t first = ((s0 + s) * p.b + b0 + r) * p.a + a0;
      WriteBehind::Piece piece;
      piece.file_offset = to.offset + first * static_cast<int64_t>(elem);
      piece.buffer_offset = shift + static_cast<size_t>((s * t.b + r) * t.a) * elem;
      piece.size = static_cast<size_t>(run) * elem;
      if (!batch.pieces.empty()) {
        WriteBehind::Piece& last = batch.pieces.back();
        if (last.file_offset + static_cast<int64_t>(last.size) == piece.file_offset &&
            last.buffer_offset + last.size == piece.buffer_offset) {
          last.size += piece.size;
          continue;
        }
      }
      batch.pieces.push_back(piece);
    }
  }
}

// A read-only mapping of a tensor's bytes, unmapped when it goes.
struct ReadOnlyMap {
  void* base = nullptr;
  size_t length = 0;
  const char* bytes = nullptr;  // the tensor's first byte; null: not mapped
  ReadOnlyMap() = default;
  ReadOnlyMap(const ReadOnlyMap&) = delete;
  ReadOnlyMap& operator=(const ReadOnlyMap&) = delete;
  ~ReadOnlyMap() {
    if (base != nullptr) ::munmap(base, length);
  }
};

// Maps `bytes` bytes at `from`: the kernels then read the page cache directly, with no copy into
// a buffer (they accept a source at any byte offset: a payload embedded in a model file usually
// does not start at a multiple of its element size). Not mapped (the caller reads instead) when
// mmap fails. Pages are mapped by the kernels' first touches rather than all at once
// (MAP_POPULATE): the writer thread then keeps writing the last tensor's chunks while this one's
// pages come in, rather than waiting for all of them (15 alternating runs of each build on
// bench/copy_bench.py's models: median 0.326 -> 0.301 s external, 0.425 -> 0.389 s embedded).
void MapWhole(const FileSpot& from, size_t bytes, ReadOnlyMap& map) {
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  if (bytes == 0 || page <= 0) return;
  const int64_t start = from.offset / page * page;
  const size_t length = bytes + static_cast<size_t>(from.offset - start);
  void* p = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, from.fd,
                   static_cast<off_t>(start));
  if (p == MAP_FAILED) return;
  map.base = p;
  map.length = length;
  map.bytes = static_cast<const char*>(p) + (from.offset - start);
}

// The permute kernel writes a tile this many bytes into its buffer, so that the tile's first
// byte sits at the same offset within a cache line as the file offset it goes to: the kernel
// copies a write into the page cache fastest between equally aligned addresses, and an embedded
// payload starts at any offset (1 GiB of 64 KiB pwrites at file offset 3 took 0.61-0.86 s from
// a line-aligned buffer, 0.33-0.46 s from one shifted by 3, on the development machine).
constexpr size_t kLineBytes = 64;
size_t LineShift(const FileSpot& to, size_t elem, const WeightStore::Permute& p, int64_t a0,
                 int64_t b0, int64_t s0) {
  const int64_t first = ((s0 * p.b + b0) * p.a + a0) * static_cast<int64_t>(elem);
  return static_cast<size_t>((to.offset + first) % static_cast<int64_t>(kLineBytes));
}

// Boxes of tensors read whole are permuted in chunks of this size (or a tile, if smaller): a
// chunk is still in the cache when the writer copies it out.
constexpr size_t kChunkBytes = size_t{1} << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<FilePermuter>> FilePermuter::Create(size_t tile_bytes,
                                                                    int threads) {
  tile_bytes = std::max<size_t>(tile_bytes, 1);
  // A tile holds at least one element (ChooseTile), so the buffers hold one of any usual size.
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<WriteBehind> writer,
                       WriteBehind::Create(std::max<size_t>(tile_bytes, 64) + kLineBytes, 3,
                                           threads >= 2));
  return std::unique_ptr<FilePermuter>(
      new FilePermuter(tile_bytes, std::max(threads, 1), std::move(writer)));
}

absl::Status FilePermuter::EnsureSource(size_t bytes) {
  if (source_.size() >= bytes) return absl::OkStatus();
  source_ = PageBuffer();
  TFL_ASSIGN_OR_RETURN(source_, PageBuffer::Allocate(bytes));
  return absl::OkStatus();
}

absl::Status FilePermuter::PermuteTile(const char* src, int64_t src_row, const FileSpot& to,
                                       size_t element_size, const WeightStore::Permute& p,
                                       int64_t a0, int64_t b0, int64_t s0, const TileShape& t,
                                       int threads) {
  TFL_ASSIGN_OR_RETURN(WriteBehind::Batch * batch, writer_->Acquire());
  PermuteOptions options = p.options;
  options.num_threads = threads;
  const size_t shift = LineShift(to, element_size, p, a0, b0, s0);
  TFL_RETURN_IF_ERROR(PermuteBoxOutOfPlace(src, src_row, batch->data + shift, element_size, t.a,
                                           t.b, t.s, options));
  batch->fd = to.fd;
  batch->path = to.path;
  AddTilePieces(to, element_size, p, a0, b0, s0, t, shift, *batch);
  return writer_->Submit(batch);
}

absl::Status FilePermuter::Permute(const FileSpot& from, const FileSpot& to,
                                   size_t element_size, const WeightStore::Permute& permute) {
  const WeightStore::Permute& p = permute;
  if (p.a <= 0 || p.b <= 0 || p.s <= 0) return absl::OkStatus();  // no elements
  const size_t total = static_cast<size_t>(p.a * p.b * p.s) * element_size;
  const size_t elem = element_size;
  if (elem + kLineBytes > writer_->buffer_bytes()) {
    return absl::UnimplementedError(
        absl::StrCat(from.path, ": elements of ", elem, " bytes are too large to move by tiles"));
  }
  if (total <= 2 * tile_bytes_) {
    // The whole tensor at once (mapped, or in one read), then small boxes from memory.
    ReadOnlyMap map;
    MapWhole(from, total, map);
    const char* whole = map.bytes;
    if (whole == nullptr) {
      TFL_RETURN_IF_ERROR(EnsureSource(total));
      TFL_RETURN_IF_ERROR(PreadAll(from.fd, source_.data(), total, from.offset, from.path));
      whole = source_.data();
    }
    const TileShape full =
        ChooseTile(p.a, p.b, p.s, elem, std::min(kChunkBytes, tile_bytes_));
    for (int64_t b0 = 0; b0 < p.b; b0 += full.b) {
      for (int64_t a0 = 0; a0 < p.a; a0 += full.a) {
        for (int64_t s0 = 0; s0 < p.s; s0 += full.s) {
          const TileShape t{std::min(full.a, p.a - a0), std::min(full.b, p.b - b0),
                            std::min(full.s, p.s - s0)};
          const char* src = whole + static_cast<size_t>((a0 * p.b + b0) * p.s + s0) * elem;
          TFL_RETURN_IF_ERROR(PermuteTile(src, p.b * p.s, to, elem, p, a0, b0, s0, t, 1));
        }
      }
    }
    return absl::OkStatus();
  }
  // Tile by tile: read each box (contiguous in the source buffer), permute, queue.
  const TileShape full = ChooseTile(p.a, p.b, p.s, elem, tile_bytes_);
  TFL_RETURN_IF_ERROR(EnsureSource(static_cast<size_t>(full.a * full.b * full.s) * elem));
  const int threads = writer_->threaded() ? std::max(1, threads_ - 1) : threads_;
  for (int64_t b0 = 0; b0 < p.b; b0 += full.b) {
    for (int64_t a0 = 0; a0 < p.a; a0 += full.a) {
      for (int64_t s0 = 0; s0 < p.s; s0 += full.s) {
        const TileShape t{std::min(full.a, p.a - a0), std::min(full.b, p.b - b0),
                          std::min(full.s, p.s - s0)};
        TFL_RETURN_IF_ERROR(ReadTile(from, elem, p, a0, b0, s0, t, source_.data()));
        TFL_RETURN_IF_ERROR(
            PermuteTile(source_.data(), t.b * t.s, to, elem, p, a0, b0, s0, t, threads));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PermuteBetweenFiles(const FileSpot& from, const FileSpot& to, size_t element_size,
                                 const WeightStore::Permute& permute, size_t tile_bytes) {
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<FilePermuter> permuter,
                       FilePermuter::Create(tile_bytes, permute.options.num_threads));
  TFL_RETURN_IF_ERROR(permuter->Permute(from, to, element_size, permute));
  return permuter->Finish();
}

}  // namespace tflayout
