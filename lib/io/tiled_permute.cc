#include "lib/io/tiled_permute.h"

#include <algorithm>
#include <cmath>
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

// Writes `tile`, (ts, tb, ta), to the output box [s0, s0 + ts) x [b0, b0 + tb) x [a0, a0 + ta).
absl::Status WriteTile(const FileSpot& to, size_t elem, const WeightStore::Permute& p,
                       int64_t a0, int64_t b0, int64_t s0, const TileShape& t,
                       const char* tile) {
  const int64_t run = t.a == p.a ? t.b * p.a : t.a;
  const int64_t runs_per_s = t.a == p.a ? 1 : t.b;
  for (int64_t s = 0; s < t.s; ++s) {
    for (int64_t r = 0; r < runs_per_s; ++r) {
      const int64_t first = ((s0 + s) * p.b + b0 + r) * p.a + a0;
      const char* src = tile + static_cast<size_t>((s * t.b + r) * t.a) * elem;
      TFL_RETURN_IF_ERROR(PwriteAll(to.fd, src, static_cast<size_t>(run) * elem,
                                    to.offset + first * static_cast<int64_t>(elem), to.path));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PermuteBetweenFiles(const FileSpot& from, const FileSpot& to, size_t element_size,
                                 const WeightStore::Permute& permute, size_t tile_bytes) {
  const WeightStore::Permute& p = permute;
  if (p.a <= 0 || p.b <= 0 || p.s <= 0) return absl::OkStatus();  // no elements
  const TileShape full = ChooseTile(p.a, p.b, p.s, element_size, tile_bytes);
  const size_t buffer_bytes = static_cast<size_t>(full.a * full.b * full.s) * element_size;
  TFL_ASSIGN_OR_RETURN(PageBuffer in, PageBuffer::Allocate(buffer_bytes));
  TFL_ASSIGN_OR_RETURN(PageBuffer out, PageBuffer::Allocate(buffer_bytes));
  for (int64_t b0 = 0; b0 < p.b; b0 += full.b) {
    for (int64_t a0 = 0; a0 < p.a; a0 += full.a) {
      for (int64_t s0 = 0; s0 < p.s; s0 += full.s) {
        const TileShape t{std::min(full.a, p.a - a0), std::min(full.b, p.b - b0),
                          std::min(full.s, p.s - s0)};
        TFL_RETURN_IF_ERROR(ReadTile(from, element_size, p, a0, b0, s0, t, in.data()));
        TFL_RETURN_IF_ERROR(PermuteABSToSBAOutOfPlace(in.data(), out.data(), element_size, t.a,
                                                      t.b, t.s, p.options));
        TFL_RETURN_IF_ERROR(WriteTile(to, element_size, p, a0, b0, s0, t, out.data()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tflayout
