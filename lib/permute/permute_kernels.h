// Transpose micro-kernels and tile drivers for lib/permute/permute.cc.
//
// NOT a normal header: permute.cc includes it several times, each time inside its own namespace
// and with TFLAYOUT_PERMUTE_SSE2, TFLAYOUT_PERMUTE_AVX2 or TFLAYOUT_PERMUTE_AVX512 (which
// implies AVX2) defined, or none of them for the portable scalar build, under a matching `#pragma GCC target` region so that every function
// here is compiled for that instruction set. Hence no include guard; the system headers it needs
// (<immintrin.h>, <cstdint>, <cstring>, <algorithm>) are included by permute.cc beforehand.
//
// Convention for every kernel: dst[c * ds + r] = src[r * ss + c] (strides in elements), i.e. a
// rows x cols tile of src becomes a cols x rows tile of dst.
//
// Every kernel takes its arrays at any byte address (a payload embedded in a model file, read
// through a memory map, is where the protobuf put it; a write buffer is shifted to the
// cache-line position of its file offset, lib/io/tiled_permute.cc): elements are moved with
// LoadElement / StoreElement, memcpy or unaligned vector loads and stores, never through a
// dereferenced T*. Only streaming stores need alignment, and are used only where the
// destination has it.

// *p, for a p that may be misaligned (memcpy compiles to a plain load).
template <typename T>
static inline T LoadElement(const T* p) {
  T v;
  std::memcpy(&v, static_cast<const void*>(p), sizeof(T));
  return v;
}
// *p = v, for a p that may be misaligned.
template <typename T>
static inline void StoreElement(T* p, T v) {
  std::memcpy(static_cast<void*>(p), &v, sizeof(T));
}

// ---- micro-kernels: one square K x K tile, loading K full source rows ------------------------
// Micro<T>::Tile(src, ss, dst, ds, nc, nt) loads K rows of K elements and stores only the first
// nc (<= K) rows of the transposed tile; nt selects non-temporal stores (caller guarantees the
// destination rows are vector-aligned).

template <typename T>
struct Micro {  // portable scalar fallback
  static constexpr int K = 8;
  static inline void Tile(const T* s, int64_t ss, T* d, int64_t ds, int nc, bool /*nt*/) {
    for (int c = 0; c < nc; ++c) {
      for (int r = 0; r < K; ++r) StoreElement(d + c * ds + r, LoadElement(s + r * ss + c));
    }
  }
};

#if defined(TFLAYOUT_PERMUTE_SSE2) || defined(TFLAYOUT_PERMUTE_AVX2)

// Transpose by repeated perfect shuffles: with N registers of N lanes, pairing register i with
// i + N/2 through unpacklo/unpackhi rotates the (register, lane) index bits left by one; after
// log2(N) stages register c holds source column c.
template <int N, typename Lo, typename Hi>
static inline void ShuffleTranspose(__m128i* x, Lo lo, Hi hi) {
  constexpr int kStages = N == 16 ? 4 : N == 8 ? 3 : N == 4 ? 2 : 1;
#pragma GCC unroll 4
  for (int stage = 0; stage < kStages; ++stage) {
    __m128i y[N];
#pragma GCC unroll 16
    for (int i = 0; i < N / 2; ++i) {
      y[2 * i] = lo(x[i], x[i + N / 2]);
      y[2 * i + 1] = hi(x[i], x[i + N / 2]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) x[i] = y[i];
  }
}

template <int N>
static inline void StoreRows128(__m128i* x, void* d, int64_t ds_bytes, int nc, bool nt) {
  auto* out = static_cast<unsigned char*>(d);
  if (nc == N && nt) {
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) _mm_stream_si128(reinterpret_cast<__m128i*>(out + i * ds_bytes), x[i]);
  } else {
    for (int i = 0; i < nc; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * ds_bytes), x[i]);
  }
}

template <>
struct Micro<uint8_t> {
  static constexpr int K = 16;
  static inline void Tile(const uint8_t* s, int64_t ss, uint8_t* d, int64_t ds, int nc, bool nt) {
    __m128i x[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) x[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * ss));
    ShuffleTranspose<16>(
        x, [](__m128i a, __m128i b) { return _mm_unpacklo_epi8(a, b); },
        [](__m128i a, __m128i b) { return _mm_unpackhi_epi8(a, b); });
    StoreRows128<16>(x, d, ds, nc, nt);
  }
};

template <>
struct Micro<uint16_t> {
  static constexpr int K = 8;
  static inline void Tile(const uint16_t* s, int64_t ss, uint16_t* d, int64_t ds, int nc,
                          bool nt) {
    __m128i x[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) x[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * ss));
    ShuffleTranspose<8>(
        x, [](__m128i a, __m128i b) { return _mm_unpacklo_epi16(a, b); },
        [](__m128i a, __m128i b) { return _mm_unpackhi_epi16(a, b); });
    StoreRows128<8>(x, d, ds * 2, nc, nt);
  }
};

#if defined(TFLAYOUT_PERMUTE_AVX512)

// K = 64 / sizeof(T): every tile row, in and out, is one whole 64-byte line. The transpose is
// ShuffleTranspose's perfect shuffle on full 512-bit registers (permutex2var interleaves of
// 32- or 64-bit lanes).
template <int N>
static inline __m512i Interleave(__m512i a, __m512i idx, __m512i b) {
  if constexpr (N == 16) {
    return _mm512_permutex2var_epi32(a, idx, b);
  } else {
    return _mm512_permutex2var_epi64(a, idx, b);
  }
}

template <typename T>
struct LineMicro {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "32- or 64-bit lanes");
  static constexpr int K = 64 / sizeof(T);
  // Loads K rows of one line each from s (row stride ss elements); x[i] = column i.
  static inline void Load(const T* s, int64_t ss, __m512i* x) {
    alignas(64) static constexpr int kIdx32[2][16] = {
        {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23},
        {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}};
    alignas(64) static constexpr int64_t kIdx64[2][8] = {{0, 8, 1, 9, 2, 10, 3, 11},
                                                         {4, 12, 5, 13, 6, 14, 7, 15}};
    constexpr int kStages = K == 16 ? 4 : 3;
    const void* lo_p = K == 16 ? static_cast<const void*>(kIdx32[0]) : kIdx64[0];
    const void* hi_p = K == 16 ? static_cast<const void*>(kIdx32[1]) : kIdx64[1];
    const __m512i lo = _mm512_load_si512(lo_p);
    const __m512i hi = _mm512_load_si512(hi_p);
#pragma GCC unroll 16
    for (int i = 0; i < K; ++i) x[i] = _mm512_loadu_si512(s + i * ss);
#pragma GCC unroll 4
    for (int stage = 0; stage < kStages; ++stage) {
      __m512i y[K];
#pragma GCC unroll 16
      for (int i = 0; i < K / 2; ++i) {
        y[2 * i] = Interleave<K>(x[i], lo, x[i + K / 2]);
        y[2 * i + 1] = Interleave<K>(x[i], hi, x[i + K / 2]);
      }
#pragma GCC unroll 16
      for (int i = 0; i < K; ++i) x[i] = y[i];
    }
  }
};

template <typename T>
struct LineTile {
  static constexpr int K = LineMicro<T>::K;
  static inline void Tile(const T* s, int64_t ss, T* d, int64_t ds, int nc, bool nt) {
    __m512i x[K];
    LineMicro<T>::Load(s, ss, x);
    if (nc == K && nt) {
#pragma GCC unroll 16
      for (int i = 0; i < K; ++i) _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i * ds), x[i]);
    } else {
      for (int i = 0; i < nc; ++i) _mm512_storeu_si512(d + i * ds, x[i]);
    }
  }
  // Row i of the transposed tile goes to d[i] (each 64-byte aligned when nt).
  static inline void TileTo(const T* s, int64_t ss, T* const* d, bool nt) {
    __m512i x[K];
    LineMicro<T>::Load(s, ss, x);
    if (nt) {
#pragma GCC unroll 16
      for (int i = 0; i < K; ++i) _mm512_stream_si512(reinterpret_cast<__m512i*>(d[i]), x[i]);
    } else {
#pragma GCC unroll 16
      for (int i = 0; i < K; ++i) _mm512_storeu_si512(d[i], x[i]);
    }
  }
};

template <>
struct Micro<uint32_t> : LineTile<uint32_t> {};
template <>
struct Micro<uint64_t> : LineTile<uint64_t> {};

#elif defined(TFLAYOUT_PERMUTE_AVX2)

template <>
struct Micro<uint32_t> {
  static constexpr int K = 8;
  static inline void Tile(const uint32_t* s32, int64_t ss, uint32_t* d32, int64_t ds, int nc,
                          bool nt) {
    // Shuffles and moves only: bit patterns (NaN payloads included) pass through unchanged.
    const float* s = reinterpret_cast<const float*>(s32);
    float* d = reinterpret_cast<float*>(d32);
    const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ss),
                 r2 = _mm256_loadu_ps(s + 2 * ss), r3 = _mm256_loadu_ps(s + 3 * ss),
                 r4 = _mm256_loadu_ps(s + 4 * ss), r5 = _mm256_loadu_ps(s + 5 * ss),
                 r6 = _mm256_loadu_ps(s + 6 * ss), r7 = _mm256_loadu_ps(s + 7 * ss);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
                 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
                 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
                 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
                 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
                 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
                 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
                 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 o[8];
    o[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    o[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    o[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    o[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    o[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    o[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    o[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    o[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
    if (nc == 8 && nt) {
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) _mm256_stream_ps(d + i * ds, o[i]);
    } else {
      for (int i = 0; i < nc; ++i) _mm256_storeu_ps(d + i * ds, o[i]);
    }
  }
};

template <>
struct Micro<uint64_t> {
  static constexpr int K = 4;
  static inline void Tile(const uint64_t* s64, int64_t ss, uint64_t* d64, int64_t ds, int nc,
                          bool nt) {
    const double* s = reinterpret_cast<const double*>(s64);
    double* d = reinterpret_cast<double*>(d64);
    const __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ss),
                  r2 = _mm256_loadu_pd(s + 2 * ss), r3 = _mm256_loadu_pd(s + 3 * ss);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
                  t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    __m256d o[4];
    o[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    o[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    o[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    o[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    if (nc == 4 && nt) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) _mm256_stream_pd(d + i * ds, o[i]);
    } else {
      for (int i = 0; i < nc; ++i) _mm256_storeu_pd(d + i * ds, o[i]);
    }
  }
};

#else  // SSE2 only

template <>
struct Micro<uint32_t> {
  static constexpr int K = 4;
  static inline void Tile(const uint32_t* s, int64_t ss, uint32_t* d, int64_t ds, int nc,
                          bool nt) {
    __m128i x[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) x[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * ss));
    ShuffleTranspose<4>(
        x, [](__m128i a, __m128i b) { return _mm_unpacklo_epi32(a, b); },
        [](__m128i a, __m128i b) { return _mm_unpackhi_epi32(a, b); });
    StoreRows128<4>(x, d, ds * 4, nc, nt);
  }
};

template <>
struct Micro<uint64_t> {
  static constexpr int K = 2;
  static inline void Tile(const uint64_t* s, int64_t ss, uint64_t* d, int64_t ds, int nc,
                          bool nt) {
    __m128i x[2];
    x[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    x[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + ss));
    ShuffleTranspose<2>(
        x, [](__m128i a, __m128i b) { return _mm_unpacklo_epi64(a, b); },
        [](__m128i a, __m128i b) { return _mm_unpackhi_epi64(a, b); });
    StoreRows128<2>(x, d, ds * 8, nc, nt);
  }
};

#endif  // AVX2 / SSE2
#endif  // any x86 SIMD

// ---- tile drivers ------------------------------------------------------------------------------

template <typename T>
static inline void ScalarTranspose(const T* s, int64_t ss, T* d, int64_t ds, int64_t rows,
                                   int64_t cols) {
  for (int64_t c = 0; c < cols; ++c) {
    T* dc = d + c * ds;
    const T* sc = s + c;
    for (int64_t r = 0; r < rows; ++r) StoreElement(dc + r, LoadElement(sc + r * ss));
  }
}

// rows x cols (src, row stride ss) -> cols x rows (dst, row stride ds). s_end, when not null,
// is the end of the readable source buffer: a partial column block may then load full K-wide
// rows (reading past `cols`, never past s_end) and store only the valid rows. nt: streaming
// stores, used only where the destination rows are 16/32-byte aligned.
template <typename T>
static void Transpose2D(const T* s, int64_t ss, T* d, int64_t ds, int64_t rows, int64_t cols,
                        const T* s_end, bool nt) {
  using M = Micro<T>;
  constexpr int K = M::K;
  const int64_t r_full = rows - rows % K;
  if (nt) {
    constexpr size_t kAlign = K * sizeof(T) >= 32 ? 32 : 16;
    nt = reinterpret_cast<uintptr_t>(d) % kAlign == 0 && (ds * sizeof(T)) % kAlign == 0 &&
         (K * sizeof(T)) % kAlign == 0;
  }
  if (r_full > 0) {
    for (int64_t c0 = 0; c0 < cols; c0 += K) {
      const int nc = static_cast<int>(std::min<int64_t>(K, cols - c0));
      if (nc < K && (s_end == nullptr || s + (r_full - 1) * ss + c0 + K > s_end)) {
        ScalarTranspose(s + c0, ss, d + c0 * ds, ds, r_full, nc);
        break;
      }
      const T* sc = s + c0;
      T* dc = d + c0 * ds;
      for (int64_t r0 = 0; r0 < r_full; r0 += K) M::Tile(sc + r0 * ss, ss, dc + r0, ds, nc, nt);
    }
  }
  if (r_full < rows) ScalarTranspose(s + r_full * ss, ss, d + r_full, ds, rows - r_full, cols);
}

// Copies one destination run of kBytes (a multiple of 64 when streaming).
template <size_t kBytes>
static inline void CopyRun(unsigned char* d, const unsigned char* s, bool nt) {
#if defined(TFLAYOUT_PERMUTE_AVX2)
  if (kBytes % 32 == 0) {
    if (nt) {
#pragma GCC unroll 8
      for (size_t i = 0; i < kBytes; i += 32) {
        _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i),
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i)));
      }
    } else {
#pragma GCC unroll 8
      for (size_t i = 0; i < kBytes; i += 32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i),
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i)));
      }
    }
    return;
  }
#elif defined(TFLAYOUT_PERMUTE_SSE2)
  if (kBytes % 16 == 0 && nt) {
#pragma GCC unroll 16
    for (size_t i = 0; i < kBytes; i += 16) {
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i),
                       _mm_load_si128(reinterpret_cast<const __m128i*>(s + i)));
    }
    return;
  }
#endif
  (void)nt;
  std::memcpy(d, s, kBytes);
}

// Rows of A handled together: each destination run is RunBytes<T>() long. For 1-byte elements
// 128-byte runs and 16 KiB tiles, so that each source row visit reads 128 bytes (two whole lines)
// rather than 32; the 2-byte ones keep 256-byte runs and 8 KiB tiles (permute_bench found
// nothing better for them).
template <typename T>
constexpr size_t RunBytes() {
  return sizeof(T) == 2 ? 256 : 128;
}
template <typename T>
constexpr int64_t RowTile() {
  return std::max<int64_t>(Micro<T>::K, static_cast<int64_t>(RunBytes<T>() / sizeof(T)));
}
// Columns of the flattened (B, S) axis per step: a TA x TC tile of TileBytes, so that the
// gathered tile and its transpose stay in L1 / L2.
template <typename T>
constexpr int64_t TileBytes() {
  return sizeof(T) == 1 ? 16384 : 8192;
}
template <typename T>
constexpr int64_t ColTile() {
  return std::max<int64_t>(Micro<T>::K, TileBytes<T>() / static_cast<int64_t>(RowTile<T>() * sizeof(T)));
}

// Copies kBytes (a compile-time size) or, when kBytes == 0, n bytes.
template <size_t kBytes>
static inline void CopyFixed(void* d, const void* s, size_t n) {
  if (kBytes) {
    std::memcpy(d, s, kBytes);
  } else {
    std::memcpy(d, s, n);
  }
}

// (A, B, S) -> (S, B, A), rows a in [a_begin, a_end) only. The source rows a are contiguous runs
// of B*S elements, ss elements apart (B*S for a whole array, more for a box of a larger one:
// lib/io/tiled_permute.h permutes slices of B that way). Per tile of TA rows x TC columns of that flattened (B, S) axis:
//   1. gather: the TA row pieces are copied into a contiguous L1 buffer (sequential reads of
//      whole cache lines; reading the tile straight from the source would keep TA lines of one
//      L1 set live at once whenever B*S*sizeof(T) is a multiple of 4 KiB, and thrash);
//   2. transpose in L1 with the micro-kernels (column j = (b, s) becomes a TA-element run);
//   3. scatter: each run goes to dst[s][b][a0...] as whole cache lines (streaming when nt and
//      aligned).
// Tiles are visited in super-tiles of kSuper row tiles, so that the destination runs of one
// column chunk are >= 512 contiguous bytes, and the next column chunk of the rows is prefetched
// (into L2: rows a multiple of 4 KiB apart would evict each other from L1) while the current one
// is processed.
#if defined(TFLAYOUT_PERMUTE_AVX512)
// PermuteRows for the whole-line kernels (K * sizeof(T) == 64): no L1 buffers at all. A tile
// reads K source rows of one line each and writes K whole destination lines, column j = (b, s)
// of the flattened (B, S) axis going to dst[s][b][a0...a0 + K). Tiles are visited per chunk of
// kCols columns over a super-tile of kRows rows (destination runs of kRows elements), with the
// rows' next chunk prefetched. Leftover rows / columns (fewer than K) go element by element.
template <typename T>
static void PermuteRowsLines(const T* src, T* dst, int64_t A, int64_t B, int64_t S,
                             int64_t a_begin, int64_t a_end, bool nt, int64_t ss) {
  using L = LineTile<T>;
  constexpr int64_t K = L::K;
  constexpr int64_t kRows = 4 * K;
  constexpr int64_t kCols = 4 * K;
  const int64_t cols = B * S;  // of each source row; rows are ss >= cols elements apart
  const int64_t a_full = a_begin + (a_end - a_begin) / K * K;
  const int64_t j_full = cols / K * K;
  const bool line_nt = nt && reinterpret_cast<uintptr_t>(dst) % 64 == 0 &&
                       (A * sizeof(T)) % 64 == 0;
  int64_t off[kCols];  // destination offset of each column of the chunk
  T* d[K];
  for (int64_t a_sup = a_begin; a_sup < a_full; a_sup += kRows) {
    const int64_t a_sup_end = std::min(a_full, a_sup + kRows);
    for (int64_t j0 = 0; j0 < j_full; j0 += kCols) {
      const int64_t j_end = std::min(j_full, j0 + kCols);
      if (j_end < j_full) {
        for (int64_t a = a_sup; a < a_sup_end; ++a) {
          const char* q = reinterpret_cast<const char*>(src + a * ss + j_end);
          for (size_t o = 0; o < kCols * sizeof(T); o += 64) __builtin_prefetch(q + o, 0, 2);
        }
      }
      int64_t b = j0 / S, s = j0 - (j0 / S) * S;
      for (int64_t j = j0; j < j_end; ++j) {
        off[j - j0] = (s * B + b) * A;
        if (++s == S) {
          s = 0;
          ++b;
        }
      }
      for (int64_t a0 = a_sup; a0 < a_sup_end; a0 += K) {
        const bool tile_nt = line_nt && (a0 * sizeof(T)) % 64 == 0;
        const T* sa = src + a0 * ss;
        for (int64_t j = j0; j < j_end; j += K) {
#pragma GCC unroll 16
          for (int i = 0; i < K; ++i) d[i] = dst + off[j - j0 + i] + a0;
          L::TileTo(sa + j, ss, d, tile_nt);
        }
      }
    }
  }
  // Leftover columns of the full rows, then leftover rows.
  if (j_full < cols) {
    for (int64_t j = j_full; j < cols; ++j) {
      const int64_t b = j / S, s = j - (j / S) * S;
      T* dj = dst + (s * B + b) * A;
      for (int64_t a = a_begin; a < a_full; ++a) {
        StoreElement(dj + a, LoadElement(src + a * ss + j));
      }
    }
  }
  for (int64_t b = 0; b < B && a_full < a_end; ++b) {
    ScalarTranspose(src + a_full * ss + b * S, ss, dst + b * A + a_full, B * A, a_end - a_full,
                    S);
  }
}
#endif

template <typename T>
static void PermuteRows(const T* src, T* dst, int64_t A, int64_t B, int64_t S, int64_t a_begin,
                        int64_t a_end, bool nt, int64_t ss) {
#if defined(TFLAYOUT_PERMUTE_AVX512)
  if constexpr (Micro<T>::K * sizeof(T) == 64) {
    if (a_end - a_begin >= Micro<T>::K) {
      PermuteRowsLines(src, dst, A, B, S, a_begin, a_end, nt, ss);
      return;
    }
    // Fewer rows than a whole-line tile (the in-place path's narrow panels): the AVX2 kernels'
    // smaller tiles instead of element-by-element loops.
    if (a_end - a_begin >= avx2::Micro<T>::K) {
      avx2::PermuteRows<T>(src, dst, A, B, S, a_begin, a_end, nt, ss);
      return;
    }
  }
#endif
  constexpr int64_t TA = RowTile<T>();
  constexpr int64_t TC = ColTile<T>();
  constexpr int64_t kSuper = std::max<int64_t>(1, 512 / static_cast<int64_t>(TA * sizeof(T)));
  alignas(64) T in[TA * TC];
  alignas(64) T out[TC * TA];
  const int64_t n_cols = B * S;  // of each source row; rows are ss >= n_cols elements apart
  const bool run_nt = nt && (A * sizeof(T)) % 64 == 0 &&
                      reinterpret_cast<uintptr_t>(dst) % 64 == 0 && (TA * sizeof(T)) % 64 == 0;
  if (a_end - a_begin < Micro<T>::K) {  // a few rows: plain loops
    for (int64_t b = 0; b < B; ++b) {
      ScalarTranspose(src + a_begin * ss + b * S, ss, dst + b * A + a_begin, B * A,
                      a_end - a_begin, S);
    }
    return;
  }
  for (int64_t a_sup = a_begin; a_sup < a_end; a_sup += kSuper * TA) {
    const int64_t a_sup_end = std::min(a_end, a_sup + kSuper * TA);
    for (int64_t j0 = 0; j0 < n_cols; j0 += TC) {
      const int64_t cols = std::min(TC, n_cols - j0);
      const int64_t b0 = j0 / S, s0 = j0 - (j0 / S) * S;
      for (int64_t a0 = a_sup; a0 < a_sup_end; a0 += TA) {
        const int64_t rows = std::min(TA, a_sup_end - a0);
        const T* sa = src + a0 * ss + j0;
        // 1. gather, prefetching the same rows' next column chunk.
        const bool more = j0 + TC < n_cols;
        if (cols == TC) {
          for (int64_t r = 0; r < rows; ++r) {
            if (more) {
              const char* q = reinterpret_cast<const char*>(sa + r * ss + TC);
              for (size_t o = 0; o < TC * sizeof(T); o += 64) __builtin_prefetch(q + o, 0, 2);
            }
            CopyFixed<TC * sizeof(T)>(in + r * TC, sa + r * ss, 0);
          }
        } else {
          for (int64_t r = 0; r < rows; ++r) {
            CopyFixed<0>(in + r * TC, sa + r * ss, static_cast<size_t>(cols) * sizeof(T));
          }
        }
        // 2. transpose in L1 (a partial column block may read the whole buffer row).
        Transpose2D(in, TC, out, TA, rows, cols, in + TA * TC, false);
        // 3. scatter the runs.
        int64_t b = b0, s = s0;
        const T* run = out;
        if (rows == TA) {
          const bool tile_nt = run_nt && (a0 * sizeof(T)) % 64 == 0;
          for (int64_t j = 0; j < cols; ++j, run += TA) {
            CopyRun<TA * sizeof(T)>(reinterpret_cast<unsigned char*>(dst + (s * B + b) * A + a0),
                                    reinterpret_cast<const unsigned char*>(run), tile_nt);
            if (++s == S) {
              s = 0;
              ++b;
            }
          }
        } else {
          for (int64_t j = 0; j < cols; ++j, run += TA) {
            std::memcpy(dst + (s * B + b) * A + a0, run, rows * sizeof(T));
            if (++s == S) {
              s = 0;
              ++b;
            }
          }
        }
      }
    }
  }
}

// Square case in place: for every b the A x A matrix m[i * (B*A) + b*A + j] is transposed by
// swapping K x K tiles through a stack buffer. Work item w = b * strips + strip handles the
// unordered tile pairs {I, J} with min(I, J) in that strip of kStrip rows.
template <typename T>
static void SquareSwap(T* p, int64_t n, int64_t B, int64_t w_begin, int64_t w_end) {
  using M = Micro<T>;
  constexpr int K = M::K;
  constexpr int64_t kStrip = 64;
  const int64_t strips = (n + kStrip - 1) / kStrip;
  const int64_t ss = B * n;
  alignas(64) T buf[K * K];
  for (int64_t w = w_begin; w < w_end; ++w) {
    const int64_t b = w / strips, strip = w % strips;
    T* m = p + b * n;
    const int64_t i_end = std::min(n, (strip + 1) * kStrip);
    for (int64_t j0 = strip * kStrip; j0 < n; j0 += kStrip) {
      const int64_t j_end = std::min(n, j0 + kStrip);
      for (int64_t i = strip * kStrip; i < i_end; i += K) {
        for (int64_t j = std::max(j0, i); j < j_end; j += K) {
          if (i + K <= n && j + K <= n) {
            T* pij = m + i * ss + j;
            T* pji = m + j * ss + i;
            M::Tile(pij, ss, buf, K, K, false);
            if (i != j) M::Tile(pji, ss, pij, ss, K, false);
            for (int c = 0; c < K; ++c) std::memcpy(pji + c * ss, buf + c * K, K * sizeof(T));
          } else {
            for (int64_t ii = i; ii < std::min(n, i + K); ++ii) {
              for (int64_t jj = std::max(j, ii + 1); jj < std::min(n, j + K); ++jj) {
                T* x = m + ii * ss + jj;
                T* y = m + jj * ss + ii;
                const T t = LoadElement(x);
                StoreElement(x, LoadElement(y));
                StoreElement(y, t);
              }
            }
          }
        }
      }
    }
  }
}
