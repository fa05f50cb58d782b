#include "lib/io/journaled_permute.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "lib/io/journal.h"  // InPlaceCrashPoint
#include "lib/io/page_buffer.h"
#include "tflayout/permute.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

constexpr uint64_t kStepMagic = 0x3150455453464c54ULL;  // "TFLSTEP1"

// Where a step starts (see the header).
struct StepStart {
  int64_t tile_bytes = 0;
  int64_t phase = 0;
  int64_t lane = 0;      // cycle phase: which slice of the blocks (blocks over half a tile)
  int64_t leader = 0;    // chunk phase: first chunk; cycle phase: cycle leader or search start
  int64_t position = -1; // cycle phase: next block to write in the leader's cycle; -1: none open
  std::string carry;     // position >= 0: the leader's original value
};

struct Range {
  int64_t offset = 0, length = 0;
};

void PutI64(std::string& s, int64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

// Payload: magic, tile bytes, phase, lane, leader, position, carry length + carry, range count +
// (offset, length) per range; the saved bytes of the ranges follow.
std::string EncodeHead(const StepStart& s, const std::vector<Range>& ranges) {
  std::string h;
  PutI64(h, static_cast<int64_t>(kStepMagic));
  for (int64_t v : {s.tile_bytes, s.phase, s.lane, s.leader, s.position}) PutI64(h, v);
  PutI64(h, static_cast<int64_t>(s.carry.size()));
  h += s.carry;
  PutI64(h, static_cast<int64_t>(ranges.size()));
  for (const Range& r : ranges) {
    PutI64(h, r.offset);
    PutI64(h, r.length);
  }
  return h;
}

struct DecodedStep {
  StepStart start;
  std::vector<Range> ranges;
  size_t bytes_at = 0;  // where the saved bytes start in the payload
};

absl::StatusOr<DecodedStep> DecodeStep(const std::string& payload) {
  size_t pos = 0;
  bool ok = true;
  auto get = [&]() -> int64_t {
    int64_t v = 0;
    if (pos + 8 > payload.size()) {
      ok = false;
      return 0;
    }
    std::memcpy(&v, payload.data() + pos, 8);
    pos += 8;
    return v;
  };
  DecodedStep d;
  const bool magic = static_cast<uint64_t>(get()) == kStepMagic;
  d.start.tile_bytes = get();
  d.start.phase = get();
  d.start.lane = get();
  d.start.leader = get();
  d.start.position = get();
  const int64_t carry = get();
  if (!ok || !magic || carry < 0 || static_cast<size_t>(carry) > payload.size() - pos ||
      d.start.tile_bytes <= 0) {
    return absl::DataLossError("not a tflayout in-place step record");
  }
  d.start.carry = payload.substr(pos, static_cast<size_t>(carry));
  pos += static_cast<size_t>(carry);
  const int64_t n = get();
  if (!ok || n < 0 || static_cast<uint64_t>(n) > (payload.size() - pos) / 16) {
    return absl::DataLossError("not a tflayout in-place step record");
  }
  uint64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    Range r;
    r.offset = get();
    r.length = get();
    if (r.offset < 0 || r.length < 0) ok = false;
    total += static_cast<uint64_t>(r.length);
    d.ranges.push_back(r);
  }
  if (!ok || total != payload.size() - pos) {
    return absl::DataLossError("not a tflayout in-place step record");
  }
  d.bytes_at = pos;
  return d;
}

// One phase of the schedule.
struct Phase {
  bool chunks = false;
  int64_t count = 0, rows = 0, cols = 0;  // chunks: `count` chunks (rows, cols) -> (cols, rows)
  int64_t r = 0, c = 0, block = 0;        // cycles: r x c blocks of `block` bytes -> c x r
};

// Bytes of a chunk step: two tiles, permuted in one buffer by the in-place kernel. Larger
// chunks give larger blocks to the cycle phases (A * u elements per chunk: blocks of u), and
// each block is a pwrite the step's sync writes back at a random place, so small blocks
// dominate the run. Two tiles double the block size of one tile for one more tile of memory;
// more tiles gain less than they cost in memory and journal size.
int64_t ChunkBudget(int64_t tile) { return 2 * tile; }

int64_t LargestDivisorAtMost(int64_t n, int64_t limit) {
  for (int64_t d = std::min(limit, n); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

std::vector<Phase> PlanPhases(int64_t a, int64_t b, int64_t s, int64_t e, int64_t tile) {
  std::vector<Phase> phases;
  const int64_t bs = b * s;
  const int64_t tile_elements = std::max<int64_t>(1, ChunkBudget(tile) / e);
  if (a > 1 && bs > 1) {  // (A, B*S) -> (B*S, A)
    const int64_t u = LargestDivisorAtMost(bs, tile_elements / a);
    const int64_t t = LargestDivisorAtMost(a, tile_elements / bs);
    if (u >= t) {
      phases.push_back(Phase{false, 0, 0, 0, a, bs / u, u * e});
      if (u > 1) phases.push_back(Phase{true, bs / u, a, u});
    } else {
      phases.push_back(Phase{true, a / t, t, bs});
      phases.push_back(Phase{false, 0, 0, 0, a / t, bs, t * e});
    }
  }
  if (b > 1 && s > 1) phases.push_back(Phase{false, 0, 0, 0, b, s, a * e});  // (B,S,A)->(S,B,A)
  return phases;
}

struct Context {
  const ExternalRegion& region;
  int fd;
  int64_t element_size;
  int64_t tile;
  PermuteOptions options;
  StepJournal& journal;
};

absl::Status SyncData(const Context& x) {
  if (::fdatasync(x.fd) != 0) return ErrnoError("fdatasync failed", x.region.path);
  return absl::OkStatus();
}

absl::Status RunChunks(const Context& x, const Phase& p, int64_t phase_index, int64_t first) {
  const int64_t chunk_bytes = p.rows * p.cols * x.element_size;
  const int64_t per_step = std::max<int64_t>(1, ChunkBudget(x.tile) / chunk_bytes);
  const size_t buffer_bytes = static_cast<size_t>(std::min(per_step, p.count) * chunk_bytes);
  TFL_ASSIGN_OR_RETURN(PageBuffer buf, PageBuffer::Allocate(buffer_bytes));
  for (int64_t i = first; i < p.count;) {
    const int64_t n = std::min(per_step, p.count - i);
    const Range range{x.region.offset + i * chunk_bytes, n * chunk_bytes};
    const size_t len = static_cast<size_t>(range.length);
    TFL_RETURN_IF_ERROR(PreadAll(x.fd, buf.data(), len, range.offset, x.region.path));
    StepStart start;
    start.tile_bytes = x.tile;
    start.phase = phase_index;
    start.leader = i;
    TFL_RETURN_IF_ERROR(x.journal.Append(x.region, EncodeHead(start, {range}), buf.data(), len));
    InPlaceCrashPoint();
    for (int64_t j = 0; j < n; ++j) {  // in place: the saved bytes are in the journal now
      TFL_RETURN_IF_ERROR(PermuteABSToSBA(buf.data() + j * chunk_bytes,
                                          static_cast<size_t>(x.element_size), p.rows, 1, p.cols,
                                          x.options));
    }
    const size_t half = len / 2;
    TFL_RETURN_IF_ERROR(PwriteAll(x.fd, buf.data(), half, range.offset, x.region.path));
    InPlaceCrashPoint();  // half a step written
    TFL_RETURN_IF_ERROR(PwriteAll(x.fd, buf.data() + half, len - half,
                                  range.offset + static_cast<int64_t>(half), x.region.path));
    TFL_RETURN_IF_ERROR(SyncData(x));
    InPlaceCrashPoint();
    i += n;
  }
  return absl::OkStatus();
}

class Visited {
 public:
  explicit Visited(int64_t n) : bits_(static_cast<size_t>((n + 63) / 64), 0) {}
  void Clear() { std::fill(bits_.begin(), bits_.end(), 0); }
  bool Test(int64_t i) const { return (bits_[static_cast<size_t>(i >> 6)] >> (i & 63)) & 1; }
  void Set(int64_t i) { bits_[static_cast<size_t>(i >> 6)] |= uint64_t{1} << (i & 63); }

 private:
  std::vector<uint64_t> bits_;
};

absl::Status RunCycles(const Context& x, const Phase& p, int64_t phase_index,
                       const StepStart* resume) {
  const int64_t n = p.r * p.c;
  // Block q of the result (c x r) is block src(q) of the input (r x c).
  auto src = [&](int64_t q) { return (q % p.r) * p.c + q / p.r; };
  const int64_t lane_bytes = std::min<int64_t>(p.block, std::max<int64_t>(1, x.tile / 2));
  const int64_t lanes = (p.block + lane_bytes - 1) / lane_bytes;
  // Half a tile to a tile of saved bytes per step, and at most a quarter tile of ranges
  // (16 bytes each) when blocks are tiny.
  const int64_t moves_per_step =
      std::max<int64_t>(1, std::min(x.tile / lane_bytes, x.tile / 64));
  TFL_ASSIGN_OR_RETURN(PageBuffer read_buf,
                       PageBuffer::Allocate(static_cast<size_t>((2 * moves_per_step + 1) * lane_bytes)));
  TFL_ASSIGN_OR_RETURN(PageBuffer undo_buf,
                       PageBuffer::Allocate(static_cast<size_t>(moves_per_step * lane_bytes)));
  Visited visited(n);
  struct Move {
    int64_t dst, src;
    bool closes;  // the cycle's last move: the value is the leader's original
  };
  std::vector<Move> moves;
  std::vector<int64_t> positions;
  std::vector<Range> ranges;
  for (int64_t lane = resume != nullptr ? resume->lane : 0; lane < lanes; ++lane) {
    const int64_t lane_off = lane * lane_bytes;
    const int64_t len = std::min(lane_bytes, p.block - lane_off);
    auto offset_of = [&](int64_t pos) { return x.region.offset + pos * p.block + lane_off; };
    visited.Clear();
    int64_t l = 0, q = -1;
    std::string carry;
    if (resume != nullptr) {  // the visited bits at that point, from the index cycles alone
      l = resume->leader;
      q = resume->position;
      carry = resume->carry;
      for (int64_t i = 0; i < l; ++i) {
        if (visited.Test(i) || src(i) == i) continue;
        int64_t at = i;
        do {
          visited.Set(at);
          at = src(at);
        } while (at != i);
      }
      for (int64_t at = l; q >= 0 && at != q; at = src(at)) visited.Set(at);
      if (q >= 0 && static_cast<int64_t>(carry.size()) != len) {
        return absl::DataLossError("the interrupted in-place step does not fit its tensor");
      }
      resume = nullptr;
    }
    for (;;) {
      StepStart start;
      start.tile_bytes = x.tile;
      start.phase = phase_index;
      start.lane = lane;
      start.leader = l;
      start.position = q;
      if (q >= 0) start.carry = carry;
      moves.clear();
      while (static_cast<int64_t>(moves.size()) < moves_per_step) {
        if (q < 0) {
          while (l < n && (visited.Test(l) || src(l) == l)) ++l;
          if (l == n) break;
          q = l;
        }
        const int64_t from = src(q);
        visited.Set(q);
        if (from == l) {
          moves.push_back({q, l, true});
          q = -1;
          ++l;
        } else {
          moves.push_back({q, from, false});
          q = from;
        }
      }
      if (moves.empty()) break;
      // The value a closing move writes: the carried one when its cycle began before this
      // step, else the leader's block as read (it is this step's first destination).
      auto from_carry = [&](const Move& m) {
        return m.closes && start.position >= 0 && m.src == start.leader;
      };
      positions.clear();
      for (const Move& m : moves) {
        positions.push_back(m.dst);
        if (!from_carry(m)) positions.push_back(m.src);
      }
      std::sort(positions.begin(), positions.end());
      positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
      auto slot = [&](int64_t pos) {
        const size_t i = static_cast<size_t>(
            std::lower_bound(positions.begin(), positions.end(), pos) - positions.begin());
        return read_buf.data() + i * static_cast<size_t>(len);
      };
      for (size_t i = 0; i < positions.size(); ++i) {
        TFL_RETURN_IF_ERROR(PreadAll(x.fd, read_buf.data() + i * static_cast<size_t>(len),
                                     static_cast<size_t>(len), offset_of(positions[i]),
                                     x.region.path));
      }
      ranges.clear();
      for (size_t i = 0; i < moves.size(); ++i) {
        std::memcpy(undo_buf.data() + i * static_cast<size_t>(len), slot(moves[i].dst),
                    static_cast<size_t>(len));
        ranges.push_back({offset_of(moves[i].dst), len});
      }
      if (q >= 0 && !(start.position >= 0 && l == start.leader)) {
        carry.assign(slot(l), static_cast<size_t>(len));  // a cycle begun in this step stays open
      }
      TFL_RETURN_IF_ERROR(x.journal.Append(x.region, EncodeHead(start, ranges), undo_buf.data(),
                                               moves.size() * static_cast<size_t>(len)));
      InPlaceCrashPoint();
      for (size_t i = 0; i < moves.size(); ++i) {
        const Move& m = moves[i];
        const char* value = from_carry(m) ? start.carry.data() : slot(m.src);
        TFL_RETURN_IF_ERROR(PwriteAll(x.fd, value, static_cast<size_t>(len), offset_of(m.dst),
                                      x.region.path));
        if (i == moves.size() / 2) InPlaceCrashPoint();  // part of a step written
      }
      TFL_RETURN_IF_ERROR(SyncData(x));
      InPlaceCrashPoint();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status UndoJournaledStep(const std::string& payload, int data_fd,
                               const std::string& data_path) {
  TFL_ASSIGN_OR_RETURN(DecodedStep d, DecodeStep(payload));
  size_t at = d.bytes_at;
  for (const Range& r : d.ranges) {
    TFL_RETURN_IF_ERROR(PwriteAll(data_fd, payload.data() + at, static_cast<size_t>(r.length),
                                  r.offset, data_path));
    at += static_cast<size_t>(r.length);
  }
  if (::fdatasync(data_fd) != 0) return ErrnoError("fdatasync failed", data_path);
  return absl::OkStatus();
}

absl::Status PermuteRegionJournaled(const ExternalRegion& region, int data_fd,
                                    const WeightStore::Permute& permute, size_t tile_bytes,
                                    const std::string& resume, StepJournal& journal) {
  std::optional<StepStart> from;
  int64_t tile = static_cast<int64_t>(tile_bytes);
  if (!resume.empty()) {
    TFL_ASSIGN_OR_RETURN(DecodedStep d, DecodeStep(resume));
    from = d.start;
    tile = d.start.tile_bytes;
  }
  const int64_t e = static_cast<int64_t>(region.element_size);
  const std::vector<Phase> phases = PlanPhases(permute.a, permute.b, permute.s, e, tile);
  if (from && (from->phase < 0 || from->phase >= static_cast<int64_t>(phases.size()))) {
    return absl::DataLossError("the interrupted in-place step is not one of this tensor's");
  }
  const Context x{region, data_fd, e, tile, permute.options, journal};
  for (int64_t i = from ? from->phase : 0; i < static_cast<int64_t>(phases.size()); ++i) {
    const StepStart* start = from && from->phase == i ? &*from : nullptr;
    const Phase& p = phases[static_cast<size_t>(i)];
    TFL_RETURN_IF_ERROR(p.chunks ? RunChunks(x, p, i, start != nullptr ? start->leader : 0)
                                 : RunCycles(x, p, i, start));
  }
  return absl::OkStatus();
}

}  // namespace tflayout
