#include "tflayout/permute.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TFLAYOUT_PERMUTE_X86 1
#endif

// Compile a region for an instruction set: GCC's target pragmas, or clang's equivalent (clang
// ignores "#pragma GCC target", and the fuzzers are built with clang).
#define TFLAYOUT_PRAGMA(text) _Pragma(#text)
#if defined(__clang__)
#define TFLAYOUT_TARGET_BEGIN(isa) \
  TFLAYOUT_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define TFLAYOUT_TARGET_END TFLAYOUT_PRAGMA(clang attribute pop)
#else
#define TFLAYOUT_TARGET_BEGIN(isa) TFLAYOUT_PRAGMA(GCC push_options) TFLAYOUT_PRAGMA(GCC target(isa))
#define TFLAYOUT_TARGET_END TFLAYOUT_PRAGMA(GCC pop_options)
#endif

namespace tflayout {
namespace permute_internal {

// ---- kernels, compiled once per instruction set --------------------------------------------------
namespace scalar {
#include "lib/permute/permute_kernels.h"  // NOLINT(build/include)
}  // namespace scalar

#if defined(TFLAYOUT_PERMUTE_X86)
TFLAYOUT_TARGET_BEGIN("sse2")
namespace sse2 {
#define TFLAYOUT_PERMUTE_SSE2 1
#include "lib/permute/permute_kernels.h"  // NOLINT(build/include)
#undef TFLAYOUT_PERMUTE_SSE2
}  // namespace sse2
TFLAYOUT_TARGET_END

TFLAYOUT_TARGET_BEGIN("avx2")
namespace avx2 {
#define TFLAYOUT_PERMUTE_AVX2 1
#include "lib/permute/permute_kernels.h"  // NOLINT(build/include)
#undef TFLAYOUT_PERMUTE_AVX2
}  // namespace avx2
TFLAYOUT_TARGET_END

TFLAYOUT_TARGET_BEGIN("avx2,avx512f,avx512bw,avx512vl,avx512dq")
namespace avx512 {
#define TFLAYOUT_PERMUTE_AVX2 1
#define TFLAYOUT_PERMUTE_AVX512 1
#include "lib/permute/permute_kernels.h"  // NOLINT(build/include)
#undef TFLAYOUT_PERMUTE_AVX512
#undef TFLAYOUT_PERMUTE_AVX2
}  // namespace avx512
TFLAYOUT_TARGET_END
#endif

}  // namespace permute_internal

namespace {

using u8 = unsigned char;
namespace pi = permute_internal;

// ---- per element size entry points ---------------------------------------------------------------

using RowsFn = void (*)(const void* src, void* dst, int64_t a, int64_t b, int64_t s,
                        int64_t a_begin, int64_t a_end, bool nt, int64_t src_row);
using SquareFn = void (*)(void* p, int64_t n, int64_t b, int64_t w_begin, int64_t w_end);

template <typename T,
          void (*F)(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, bool, int64_t)>
void RowsThunk(const void* src, void* dst, int64_t a, int64_t b, int64_t s, int64_t a_begin,
               int64_t a_end, bool nt, int64_t src_row) {
  F(static_cast<const T*>(src), static_cast<T*>(dst), a, b, s, a_begin, a_end, nt, src_row);
}
template <typename T, void (*F)(T*, int64_t, int64_t, int64_t, int64_t)>
void SquareThunk(void* p, int64_t n, int64_t b, int64_t w_begin, int64_t w_end) {
  F(static_cast<T*>(p), n, b, w_begin, w_end);
}

struct Kernels {
  RowsFn rows[4];      // element sizes 1, 2, 4, 8
  SquareFn square[4];
  const char* isa;
};

#define TFLAYOUT_KERNELS(ns)                                                                   \
  Kernels {                                                                                    \
    {RowsThunk<uint8_t, pi::ns::PermuteRows<uint8_t>>,                                         \
     RowsThunk<uint16_t, pi::ns::PermuteRows<uint16_t>>,                                       \
     RowsThunk<uint32_t, pi::ns::PermuteRows<uint32_t>>,                                       \
     RowsThunk<uint64_t, pi::ns::PermuteRows<uint64_t>>},                                      \
        {SquareThunk<uint8_t, pi::ns::SquareSwap<uint8_t>>,                                    \
         SquareThunk<uint16_t, pi::ns::SquareSwap<uint16_t>>,                                  \
         SquareThunk<uint32_t, pi::ns::SquareSwap<uint32_t>>,                                  \
         SquareThunk<uint64_t, pi::ns::SquareSwap<uint64_t>>},                                 \
        #ns                                                                                    \
  }

const Kernels& SelectKernels() {
  static const Kernels kernels = [] {
    // TFLAYOUT_PERMUTE_ISA=avx2|sse2|scalar caps the set (testing).
    const char* force = std::getenv("TFLAYOUT_PERMUTE_ISA");
    const std::string f = force ? force : "";
#if defined(TFLAYOUT_PERMUTE_X86)
    if (f != "scalar" && f != "sse2" && f != "avx2" && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq")) {
      return TFLAYOUT_KERNELS(avx512);
    }
    if (f != "scalar" && f != "sse2" && __builtin_cpu_supports("avx2")) {
      return TFLAYOUT_KERNELS(avx2);
    }
    if (f != "scalar") return TFLAYOUT_KERNELS(sse2);
#endif
    return TFLAYOUT_KERNELS(scalar);
  }();
  return kernels;
}

int SizeIndex(size_t element_size) {
  switch (element_size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    default: return -1;
  }
}

// ---- generic element size (3, 16, ...): scalar, element by element -------------------------------

void GenericRows(const u8* src, u8* dst, size_t es, int64_t A, int64_t B, int64_t S,
                 int64_t a_begin, int64_t a_end, int64_t src_row) {
  constexpr int64_t kTile = 16;
  for (int64_t a0 = a_begin; a0 < a_end; a0 += kTile) {
    const int64_t a1 = std::min(a_end, a0 + kTile);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < S; ++s) {
        u8* out = dst + ((s * B + b) * A + a0) * es;
        const u8* in = src + (a0 * src_row + b * S + s) * es;
        for (int64_t a = a0; a < a1; ++a, out += es, in += src_row * es) std::memcpy(out, in, es);
      }
    }
  }
}

void GenericSquare(u8* p, size_t es, int64_t n, int64_t B, int64_t w_begin, int64_t w_end) {
  // Work items are b values; swap element pairs in 16 x 16 tiles.
  constexpr int64_t kTile = 16;
  const int64_t ss = B * n;
  for (int64_t b = w_begin; b < w_end; ++b) {
    u8* m = p + b * n * es;
    for (int64_t i0 = 0; i0 < n; i0 += kTile) {
      for (int64_t j0 = i0; j0 < n; j0 += kTile) {
        for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i) {
          for (int64_t j = std::max(j0, i + 1); j < std::min(n, j0 + kTile); ++j) {
            std::swap_ranges(m + (i * ss + j) * es, m + (i * ss + j + 1) * es,
                             m + (j * ss + i) * es);
          }
        }
      }
    }
  }
}

// ---- threads --------------------------------------------------------------------------------------

// Runs fn(begin, end) over [0, n) split into `threads` contiguous ranges whose boundaries are
// multiples of `grain`; the calling thread takes the first range.
template <typename Fn>
void ParallelFor(int threads, int64_t n, int64_t grain, Fn fn) {
  const int64_t units = (n + grain - 1) / grain;
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, units)));
  if (t <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(t - 1);
  auto range = [&](int i) {
    const int64_t b = std::min(n, units * i / t * grain);
    const int64_t e = std::min(n, units * (i + 1) / t * grain);
    return std::make_pair(b, e);
  };
  for (int i = 1; i < t; ++i) {
    workers.emplace_back([&, i] {
      auto [b, e] = range(i);
      if (b < e) fn(b, e);
    });
  }
  auto [b, e] = range(0);
  if (b < e) fn(b, e);
  for (auto& w : workers) w.join();
}

// ---- buffers -------------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<u8, FreeDeleter>;

Buffer Allocate(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, std::max<size_t>(bytes, 64)) != 0) throw std::bad_alloc();
  return Buffer(static_cast<u8*>(p));
}

// Scratch of one call, reused by the next call on the same thread. Allocating and freeing the
// 2 MiB panel buffer per tensor can let glibc's heap grow by 2 MiB per tensor (models with
// thousands of weights, bench/e2e_compare.py), and fresh pages cost a page fault each. Each thread keeps at most one buffer of up to
// kMaxCachedScratchBytes; a lease taken while the thread's buffer is lent out, or a larger
// one, is allocated and freed as before.
class ScratchLease {
 public:
  explicit ScratchLease(size_t bytes) {
    Cache& cache = ThreadCache();
    if (bytes > kMaxCachedScratchBytes || cache.in_use) {
      own_ = Allocate(bytes);
      data_ = own_.get();
      return;
    }
    if (cache.size < bytes) {
      cache.buffer.reset();
      cache.buffer = Allocate(bytes);
      cache.size = bytes;
    }
    cache.in_use = true;
    data_ = cache.buffer.get();
  }
  ~ScratchLease() {
    if (!own_) ThreadCache().in_use = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  u8* get() const { return data_; }

 private:
  static constexpr size_t kMaxCachedScratchBytes = size_t{4} << 20;
  struct Cache {
    Buffer buffer;
    size_t size = 0;
    bool in_use = false;
  };
  static Cache& ThreadCache() {
    thread_local Cache cache;
    return cache;
  }
  Buffer own_;
  u8* data_ = nullptr;
};

// ---- fast division for the cycle walks ------------------------------------------------------------

// n / d with a multiply-high when n, d < 2^32 (exact there: n * d < 2^64), a divide otherwise.
class FastDiv {
 public:
  FastDiv(uint64_t d, uint64_t max_n)
      : d_(d), fast_(d > 1 && d < (uint64_t{1} << 32) && max_n < (uint64_t{1} << 32)),
        m_(fast_ ? ~uint64_t{0} / d + 1 : 0) {}
  uint64_t Div(uint64_t n) const {
    if (fast_) return static_cast<uint64_t>((static_cast<unsigned __int128>(n) * m_) >> 64);
    return d_ == 1 ? n : n / d_;
  }

 private:
  uint64_t d_;
  bool fast_;
  uint64_t m_;
};

// ---- the context of one call ----------------------------------------------------------------------

struct Ctx {
  size_t es;
  int size_index;  // -1: generic
  int threads;
  size_t scratch;  // total scratch budget in bytes
  bool nt_auto;    // decide streaming stores by size
  bool nt_force;
  const Kernels* k;
  bool large_panels = true;  // false inside a panel that is itself permuted in place
};

constexpr size_t kStreamingThreshold = size_t{4} << 20;

// (A, B, S) -> (S, B, A) out of place, rows split across threads. Row a of the source starts
// src_row >= B*S elements after row a - 1 (B*S: the whole array; more: a box of a larger one).
void OutOfPlace(const Ctx& c, const u8* src, u8* dst, int64_t A, int64_t B, int64_t S,
                int threads, int64_t src_row) {
  const size_t bytes = static_cast<size_t>(A * B * S) * c.es;
  if (bytes == 0) return;
  if (A == 1) {  // (1, B, S) -> (S, B, 1) is a B x S transpose of one contiguous row
    A = B;
    B = 1;
    src_row = S;
  } else if (S == 1) {  // (A, B, 1) -> (1, B, A) is an A x B transpose
    S = B;
    B = 1;
  }
  if (A == 1 || S == 1) {  // nothing moves: the rows are copied one after the other
    const size_t row_bytes = static_cast<size_t>(B * S) * c.es;
    if (src_row == B * S) {
      std::memcpy(dst, src, bytes);
      return;
    }
    for (int64_t a = 0; a < A; ++a) {
      std::memcpy(dst + a * row_bytes, src + static_cast<size_t>(a * src_row) * c.es, row_bytes);
    }
    return;
  }
  const bool nt = c.nt_auto ? bytes >= kStreamingThreshold : c.nt_force;
  if (c.size_index < 0) {
    ParallelFor(threads, A, 16, [&](int64_t b, int64_t e) {
      GenericRows(src, dst, c.es, A, B, S, b, e, src_row);
    });
    return;
  }
  const RowsFn fn = c.k->rows[c.size_index];
  ParallelFor(threads, A, 256,
              [&](int64_t b, int64_t e) { fn(src, dst, A, B, S, b, e, nt, src_row); });
  if (nt) {
#if defined(TFLAYOUT_PERMUTE_X86)
    _mm_sfence();
#endif
  }
}

// Pull-based cycle following of a block permutation: the array is n = A*B*S blocks of `blk`
// bytes laid out as (A, B, S) and becomes (S, B, A). One visited bit per block; blocks larger
// than the scratch are moved in chunks along the same cycles.
class CycleWalker {
 public:
  CycleWalker(u8* p, size_t blk, int64_t A, int64_t B, int64_t S)
      : p_(p), blk_(blk), A_(A), B_(B), S_(S),
        n_(static_cast<uint64_t>(A * B * S)),
        div_a_(static_cast<uint64_t>(A), n_),
        div_b_(static_cast<uint64_t>(B), n_) {}

  // Which block moves into position k.
  uint64_t SourceOf(uint64_t k) const {
    const uint64_t q = div_a_.Div(k);
    const uint64_t a = k - q * A_;
    const uint64_t s = div_b_.Div(q);
    const uint64_t b = q - s * B_;
    return (a * B_ + b) * S_ + s;
  }

  uint64_t size() const { return n_; }

  // Moves bytes [off, off + len) of every block on the cycle through `leader`; marks the
  // cycle's other positions in `bits` when given. kLen > 0: len == kLen, copies inlined.
  template <size_t kLen = 0>
  void Walk(uint64_t leader, size_t off, size_t len, u8* tmp, uint64_t* bits) const {
    constexpr int kAhead = 32;
    if (kLen) len = kLen;
    uint64_t ahead = leader;
    bool ahead_done = false;
    auto advance = [&] {
      if (ahead_done) return;
      ahead = SourceOf(ahead);
      if (ahead == leader) {
        ahead_done = true;
        return;
      }
      const u8* q = p_ + ahead * blk_ + off;
      for (size_t o = 0; o < len; o += 64) __builtin_prefetch(q + o, 1);
    };
    auto copy = [len](u8* d, const u8* s) {
      if (kLen) {
        std::memcpy(d, s, kLen);
      } else {
        std::memcpy(d, s, len);
      }
    };
    for (int i = 0; i < kAhead; ++i) advance();
    copy(tmp, p_ + leader * blk_ + off);
    uint64_t k = leader;
    uint64_t j = SourceOf(k);
    while (j != leader) {
      advance();
      copy(p_ + k * blk_ + off, p_ + j * blk_ + off);
      if (bits) bits[j >> 6] |= uint64_t{1} << (j & 63);
      k = j;
      j = SourceOf(j);
    }
    copy(p_ + k * blk_ + off, tmp);
  }

  // Walk with the copy size fixed at compile time for the common block sizes.
  void WalkAny(uint64_t leader, size_t off, size_t len, u8* tmp, uint64_t* bits) const {
    switch (len) {
      case 32: return Walk<32>(leader, off, len, tmp, bits);
      case 64: return Walk<64>(leader, off, len, tmp, bits);
      case 128: return Walk<128>(leader, off, len, tmp, bits);
      case 256: return Walk<256>(leader, off, len, tmp, bits);
      case 512: return Walk<512>(leader, off, len, tmp, bits);
      default: return Walk<0>(leader, off, len, tmp, bits);
    }
  }

 private:
  u8* p_;
  size_t blk_;
  uint64_t A_, B_, S_, n_;
  FastDiv div_a_, div_b_;
};

uint64_t NextZeroBit(const uint64_t* bits, uint64_t words, uint64_t from) {
  uint64_t w = from >> 6;
  if (w >= words) return words * 64;
  uint64_t x = ~bits[w] & (~uint64_t{0} << (from & 63));
  while (x == 0) {
    if (++w >= words) return words * 64;
    x = ~bits[w];
  }
  return (w << 6) + static_cast<uint64_t>(__builtin_ctzll(x));
}

// All the cycles of a block permutation as one stream of moves, with prefetches running a fixed
// distance ahead in the stream, across cycle boundaries: most cycles are short (transposing
// 2^k x 2^m blocks gives cycles of at most k + m), so prefetching along one cycle at a time leaves
// each cycle's first misses exposed, one after the other. A producer walks the block indices
// ahead of the moves (and marks them visited when `mark`); the moves follow through a small ring.
// Leaders are the zero bits in [begin, end). Requires len == blk <= the tmp buffer.
class CycleStream {
 public:
  static constexpr int kRing = 64;  // entries; the queue is kRing * 8 bytes on the stack

  CycleStream(const CycleWalker& w, uint64_t* bits, uint64_t words, uint64_t begin, uint64_t end,
              bool mark)
      : w_(w), bits_(bits), words_(words), from_(begin), end_(end), mark_(mark) {}

  // Next block index of the stream; `start` marks the first block (the leader) of a cycle.
  bool Next(uint64_t& idx, bool& start) {
    if (in_cycle_) {
      const uint64_t j = w_.SourceOf(cur_);
      if (j != leader_) {
        cur_ = j;
        if (mark_) bits_[j >> 6] |= uint64_t{1} << (j & 63);
        idx = j;
        start = false;
        return true;
      }
      in_cycle_ = false;
    }
    for (;;) {
      const uint64_t l = NextZeroBit(bits_, words_, from_);
      if (l >= end_) return false;
      from_ = l + 1;
      if (mark_) bits_[l >> 6] |= uint64_t{1} << (l & 63);
      if (w_.SourceOf(l) == l) continue;
      leader_ = cur_ = l;
      in_cycle_ = true;
      idx = l;
      start = true;
      return true;
    }
  }

 private:
  const CycleWalker& w_;
  uint64_t* bits_;
  uint64_t words_, from_, end_;
  bool mark_;
  bool in_cycle_ = false;
  uint64_t leader_ = 0, cur_ = 0;
};

// Runs the moves of every cycle whose leader is a zero bit in [begin, end). kLen > 0: blk == kLen.
template <size_t kLen>
void StreamCycles(const CycleWalker& w, u8* p, size_t blk, uint64_t* bits, uint64_t words,
                  uint64_t begin, uint64_t end, bool mark, u8* tmp) {
  if (kLen) blk = kLen;
  constexpr uint64_t kStart = uint64_t{1} << 63;
  constexpr int kMask = CycleStream::kRing - 1;
  // About 8 KiB of blocks in flight.
  const int ahead = static_cast<int>(
      std::clamp<size_t>((size_t{8} << 10) / blk, 4, CycleStream::kRing));
  CycleStream stream(w, bits, words, begin, end, mark);
  uint64_t ring[CycleStream::kRing];
  int head = 0, tail = 0;  // entries [head, tail) are queued (indices mod kRing)
  bool more = true;
  auto produce = [&] {
    uint64_t idx;
    bool start;
    if (!more || !stream.Next(idx, start)) {
      more = false;
      return;
    }
    const uintptr_t a = reinterpret_cast<uintptr_t>(p + idx * blk);
    for (uintptr_t q = a & ~uintptr_t{63}; q < a + blk; q += 64) {
      // Into L2 (read, low locality) rather than for writing into L1, where the prefetched lines
      // would compete with the moves' own loads and stores.
      __builtin_prefetch(reinterpret_cast<const void*>(q), 0, 1);
    }
    ring[tail++ & kMask] = idx | (start ? kStart : 0);
  };
  auto copy = [blk](u8* d, const u8* s) {
    if (kLen) {
      std::memcpy(d, s, kLen);
    } else {
      std::memcpy(d, s, blk);
    }
  };
  for (int i = 0; i < ahead && more; ++i) produce();
  bool open = false;
  uint64_t cur = 0;
  while (head != tail) {
    const uint64_t e = ring[head++ & kMask];
    produce();
    const uint64_t idx = e & ~kStart;
    if (e & kStart) {
      if (open) copy(p + cur * blk, tmp);  // close the previous cycle
      copy(tmp, p + idx * blk);
      open = true;
    } else {
      copy(p + cur * blk, p + idx * blk);
    }
    cur = idx;
  }
  if (open) copy(p + cur * blk, tmp);
}

void StreamCyclesAny(const CycleWalker& w, u8* p, size_t blk, uint64_t* bits, uint64_t words,
                     uint64_t begin, uint64_t end, bool mark, u8* tmp) {
  switch (blk) {
    case 4: return StreamCycles<4>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 8: return StreamCycles<8>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 16: return StreamCycles<16>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 32: return StreamCycles<32>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 64: return StreamCycles<64>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 128: return StreamCycles<128>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 256: return StreamCycles<256>(w, p, blk, bits, words, begin, end, mark, tmp);
    case 512: return StreamCycles<512>(w, p, blk, bits, words, begin, end, mark, tmp);
    default: return StreamCycles<0>(w, p, blk, bits, words, begin, end, mark, tmp);
  }
}

// Block permutation (A, B, S) -> (S, B, A) in place, blocks of blk bytes.
void CyclePermute(const Ctx& c, u8* p, size_t blk, int64_t A, int64_t B, int64_t S) {
  if (A * B * S <= 1 || blk == 0) return;
  if ((A == 1 && (B == 1 || S == 1)) || (S == 1 && B == 1)) return;  // identity
  const CycleWalker walker(p, blk, A, B, S);
  const uint64_t n = walker.size();
  const uint64_t words = (n + 63) / 64;
  std::vector<uint64_t> bits(words, 0);  // the one bit per block
  const int threads = static_cast<int>(std::min<uint64_t>(c.threads, n / 64 + 1));
  const size_t chunk = std::min(blk, std::max<size_t>(c.scratch / threads, 1));
  if (threads <= 1) {
    ScratchLease tmp(chunk);
    if (chunk == blk) {
      StreamCyclesAny(walker, p, blk, bits.data(), words, 0, n, true, tmp.get());
      return;
    }
    for (uint64_t leader = NextZeroBit(bits.data(), words, 0); leader < n;
         leader = NextZeroBit(bits.data(), words, leader + 1)) {
      bits[leader >> 6] |= uint64_t{1} << (leader & 63);
      if (walker.SourceOf(leader) == leader) continue;
      for (size_t off = 0; off < blk; off += chunk) {
        walker.WalkAny(leader, off, std::min(chunk, blk - off), tmp.get(), off == 0 ? bits.data() : nullptr);
      }
    }
    return;
  }
  // Threads: first mark every non-leader (index arithmetic only, no data moves), so that the
  // zero bits are exactly the cycle leaders; then threads take disjoint cycles.
  for (uint64_t leader = NextZeroBit(bits.data(), words, 0); leader < n;
       leader = NextZeroBit(bits.data(), words, leader + 1)) {
    for (uint64_t j = walker.SourceOf(leader); j != leader; j = walker.SourceOf(j)) {
      bits[j >> 6] |= uint64_t{1} << (j & 63);
    }
  }
  std::atomic<uint64_t> next_word{0};
  constexpr uint64_t kWordsPerGrab = 16;
  ParallelFor(threads, threads, 1, [&](int64_t, int64_t) {
    ScratchLease tmp(chunk);
    for (;;) {
      const uint64_t w0 = next_word.fetch_add(kWordsPerGrab);
      if (w0 >= words) break;
      const uint64_t end = std::min(n, (w0 + kWordsPerGrab) * 64);
      if (chunk == blk) {
        StreamCyclesAny(walker, p, blk, bits.data(), words, w0 * 64, end, false, tmp.get());
        continue;
      }
      for (uint64_t leader = NextZeroBit(bits.data(), words, w0 * 64); leader < end;
           leader = NextZeroBit(bits.data(), words, leader + 1)) {
        if (walker.SourceOf(leader) == leader) continue;
        for (size_t off = 0; off < blk; off += chunk) {
          walker.WalkAny(leader, off, std::min(chunk, blk - off), tmp.get(), nullptr);
        }
      }
    }
  });
}

// Largest divisor of n that is <= limit (0 when limit < 1).
int64_t LargestDivisorAtMost(int64_t n, int64_t limit) {
  limit = std::min(limit, n);
  for (int64_t d = limit; d >= 1; --d) {
    if (n % d == 0) return d;
  }
  return 0;
}

void InPlace(const Ctx& c, u8* p, int64_t A, int64_t B, int64_t S);

// Blocks below this many bytes make the block pass slow: each block is a random access, and
// blocks of a few cache lines run far below a sequential read-modify-write pass
// (bench/permute_bench measures both).
constexpr size_t kSmallBlockBytes = 128;

// Largest panel permuted in place inside L3: half the L3 (at most 16 MiB), 8 MiB if unknown.
size_t LargePanelBytes() {
  static const size_t bytes = [] {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 <= 0) return size_t{8} << 20;
    return std::min(static_cast<size_t>(l3) / 2, size_t{16} << 20);
  }();
  return bytes;
}

// Panels of `rows` x (B*S) elements go through scratch: (rows, B, S) -> (S, B, rows) each.
void PanelPass(const Ctx& c, u8* p, int64_t panels, int64_t rows, int64_t B, int64_t S,
               int threads) {
  const size_t panel_bytes = static_cast<size_t>(rows * B * S) * c.es;
  const size_t per_thread = c.scratch / threads;
  ParallelFor(threads, panels, 1, [&](int64_t b, int64_t e) {
    Ctx serial = c;
    serial.threads = 1;
    serial.nt_auto = false;
    serial.nt_force = false;
    serial.scratch = per_thread;
    serial.large_panels = false;
    if (panel_bytes > per_thread) {
      for (int64_t i = b; i < e; ++i) InPlace(serial, p + i * panel_bytes, rows, B, S);
      return;
    }
    ScratchLease tmp(panel_bytes);
    for (int64_t i = b; i < e; ++i) {
      u8* panel = p + i * panel_bytes;
      std::memcpy(tmp.get(), panel, panel_bytes);
      OutOfPlace(serial, tmp.get(), panel, rows, B, S, 1, B * S);
    }
  });
}

void Square(const Ctx& c, u8* p, int64_t n, int64_t B) {
  if (c.size_index < 0) {
    ParallelFor(c.threads, B, 1, [&](int64_t b, int64_t e) { GenericSquare(p, c.es, n, B, b, e); });
    return;
  }
  const int64_t strips = (n + 63) / 64;
  const int64_t items = B * strips;
  const SquareFn fn = c.k->square[c.size_index];
  if (c.threads <= 1 || items < 2) {
    fn(p, n, B, 0, items);
    return;
  }
  // Strip sizes shrink with the strip index (upper triangle), so hand out items dynamically.
  std::atomic<int64_t> next{0};
  ParallelFor(c.threads, c.threads, 1, [&](int64_t, int64_t) {
    for (int64_t w; (w = next.fetch_add(1)) < items;) fn(p, n, B, w, w + 1);
  });
}

void InPlace(const Ctx& c, u8* p, int64_t A, int64_t B, int64_t S) {
  if (A == 1) {
    A = B;
    B = 1;
  } else if (S == 1) {
    S = B;
    B = 1;
  }
  if (A <= 1 || S <= 1 || B == 0) return;
  const size_t es = c.es;
  const size_t bytes = static_cast<size_t>(A * B * S) * es;

  // 1. Small: one copy through scratch.
  if (bytes <= c.scratch) {
    ScratchLease tmp(bytes);
    std::memcpy(tmp.get(), p, bytes);
    Ctx serial = c;
    serial.nt_auto = false;
    OutOfPlace(serial, tmp.get(), p, A, B, S, c.threads, B * S);
    return;
  }
  // 2. Square: tile swaps, one pass, no scratch.
  if (A == S) {
    Square(c, p, A, B);
    return;
  }
  // 3. Two passes: panels through scratch + block cycles. Blocks are Ta rows of A (A side:
  //    panels first, then blocks) or Ts columns of S (S side: blocks first, then panels).
  //    Panels are at most the scratch, or, when that leaves blocks under kSmallBlockBytes, at
  //    most LargePanelBytes(): such a panel is permuted in place (recursively, through the same
  //    scratch) while it stays in L3, and the block pass gets blocks several times larger.
  const int threads = std::max(1, c.threads);
  const size_t row_bytes = static_cast<size_t>(B * S) * es;  // one a
  const size_t col_bytes = static_cast<size_t>(B * A) * es;  // one s
  int64_t ta_max = 0, ts_max = 0, ta = 0, ts = 0;
  auto pick = [&](size_t panel_limit) {
    ta_max = std::min<int64_t>(A - 1, static_cast<int64_t>(panel_limit / row_bytes));
    ts_max = std::min<int64_t>(S - 1, static_cast<int64_t>(panel_limit / col_bytes));
    ta = LargestDivisorAtMost(A, ta_max);
    ts = LargestDivisorAtMost(S, ts_max);
  };
  pick(c.scratch / threads);
  if (c.large_panels && static_cast<size_t>(std::max(ta, ts)) * es < kSmallBlockBytes &&
      LargePanelBytes() / threads > c.scratch / threads) {
    pick(LargePanelBytes() / threads);
  }

  if (ta == 0 && ts == 0) {
    if (B == 1) {  // rows and columns both exceed the scratch: element cycles
      CyclePermute(c, p, es, A, 1, S);
      return;
    }
    // Split B off: (A,B,S) -> (B,A,S) [blocks of S] -> (B,S,A) [B transposes] -> (S,B,A)
    // [blocks of A].
    CyclePermute(c, p, static_cast<size_t>(S) * es, A, 1, B);
    for (int64_t b = 0; b < B; ++b) InPlace(c, p + static_cast<size_t>(b * A * S) * es, A, 1, S);
    CyclePermute(c, p, static_cast<size_t>(A) * es, B, 1, S);
    return;
  }

  // A side without a good divisor of A: run on the first A - A % ta_max rows, then widen the
  // rows and fill in the remaining R < ta_max columns (an extra pass, only when it pays).
  if (ta * 2 < ta_max && ts * 2 < ta_max && std::max(ta, ts) * es < 256 &&
      ta_max * es >= 64) {
    const int64_t am = A - A % ta_max;
    const int64_t r = A - am;
    InPlace(c, p, am, B, S);
    const int64_t sb = S * B;
    ScratchLease tail(static_cast<size_t>(r * sb) * es);
    Ctx serial = c;
    serial.nt_auto = false;
    OutOfPlace(serial, p + static_cast<size_t>(am * sb) * es, tail.get(), r, B, S, 1, B * S);
    for (int64_t k = sb - 1; k >= 0; --k) {
      std::memmove(p + static_cast<size_t>(k * A) * es, p + static_cast<size_t>(k * am) * es,
                   static_cast<size_t>(am) * es);
      std::memcpy(p + static_cast<size_t>(k * A + am) * es,
                  tail.get() + static_cast<size_t>(k * r) * es, static_cast<size_t>(r) * es);
    }
    return;
  }

  if (ta >= ts) {
    // (A1, Ta, B, S) -panels-> (A1, S, B, Ta) -blocks-> (S, B, A1, Ta).
    const int64_t a1 = A / ta;
    PanelPass(c, p, a1, ta, B, S, threads);
    CyclePermute(c, p, static_cast<size_t>(ta) * es, a1, 1, S * B);
  } else {
    // (A, B, S1, Ts) -blocks-> (S1, B, A, Ts) -panels-> (S1, Ts, B, A).
    const int64_t s1 = S / ts;
    CyclePermute(c, p, static_cast<size_t>(ts) * es, A, B, s1);
    PanelPass(c, p, s1, B * A, 1, ts, threads);
  }
}

absl::Status CheckShape(size_t element_size, int64_t a, int64_t b, int64_t s) {
  if (element_size == 0 || a < 0 || b < 0 || s < 0) {
    return absl::InvalidArgumentError(absl::StrCat("permute: invalid shape (", a, ", ", b, ", ",
                                                   s, ") x ", element_size, " bytes"));
  }
  const __int128 bytes = static_cast<__int128>(a) * b * s * element_size;
  if (bytes > std::numeric_limits<int64_t>::max() ||
      static_cast<__int128>(element_size) > std::numeric_limits<int64_t>::max()) {
    return absl::InvalidArgumentError("permute: array size overflows");
  }
  return absl::OkStatus();
}

// The typed kernels serve 1-, 2-, 4- and 8-byte elements at any address (permute_kernels.h).
Ctx MakeCtx(size_t element_size, const PermuteOptions& options) {
  Ctx c;
  c.es = element_size;
  c.size_index = SizeIndex(element_size);
  c.threads = std::max(1, options.num_threads);
  c.scratch = std::max(options.max_scratch_bytes, kMinPermuteScratchBytes);
  c.nt_auto = options.streaming_stores == PermuteOptions::Streaming::kAuto;
  c.nt_force = options.streaming_stores == PermuteOptions::Streaming::kAlways;
  c.k = &SelectKernels();
  return c;
}

}  // namespace

const char* PermuteKernelIsa() { return SelectKernels().isa; }

absl::Status PermuteABSToSBAOutOfPlace(const void* src, void* dst, size_t element_size,
                                       int64_t a, int64_t b, int64_t s,
                                       const PermuteOptions& options) {
  if (absl::Status st = CheckShape(element_size, a, b, s); !st.ok()) return st;
  const Ctx c = MakeCtx(element_size, options);
  OutOfPlace(c, static_cast<const u8*>(src), static_cast<u8*>(dst), a, b, s, c.threads, b * s);
  return absl::OkStatus();
}

absl::Status PermuteBoxOutOfPlace(const void* src, int64_t src_row, void* dst,
                                  size_t element_size, int64_t a, int64_t b, int64_t s,
                                  const PermuteOptions& options) {
  if (absl::Status st = CheckShape(element_size, a, b, s); !st.ok()) return st;
  if (a > 1 && src_row < b * s) {
    return absl::InvalidArgumentError(absl::StrCat("permute: source rows ", src_row,
                                                   " elements apart overlap rows of ", b * s));
  }
  const Ctx c = MakeCtx(element_size, options);
  OutOfPlace(c, static_cast<const u8*>(src), static_cast<u8*>(dst), a, b, s, c.threads,
             a > 1 ? src_row : b * s);
  return absl::OkStatus();
}

absl::Status PermuteABSToSBA(void* data, size_t element_size, int64_t a, int64_t b, int64_t s,
                             const PermuteOptions& options) {
  if (absl::Status st = CheckShape(element_size, a, b, s); !st.ok()) return st;
  const Ctx c = MakeCtx(element_size, options);
  try {
    InPlace(c, static_cast<u8*>(data), a, b, s);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("permute: out of memory for scratch");
  }
  return absl::OkStatus();
}

}  // namespace tflayout
