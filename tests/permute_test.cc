#include "tflayout/permute.h"

#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace tflayout {
namespace {

using Bytes = std::vector<unsigned char>;

struct Shape {
  int64_t a, b, s;
};

std::string Name(const Shape& sh, size_t es) {
  return "(" + std::to_string(sh.a) + "," + std::to_string(sh.b) + "," + std::to_string(sh.s) +
         ")x" + std::to_string(es);
}

Bytes Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes v(n);
  for (auto& x : v) x = static_cast<unsigned char>(rng());
  return v;
}

// out[s][b][a] = in[a][b][s], element by element.
Bytes Reference(const Bytes& in, size_t es, const Shape& sh) {
  Bytes out(in.size());
  for (int64_t a = 0; a < sh.a; ++a) {
    for (int64_t b = 0; b < sh.b; ++b) {
      for (int64_t s = 0; s < sh.s; ++s) {
        std::memcpy(&out[((s * sh.b + b) * sh.a + a) * es], &in[((a * sh.b + b) * sh.s + s) * es],
                    es);
      }
    }
  }
  return out;
}

const std::vector<Shape>& Shapes() {
  static const std::vector<Shape> shapes = {
      {0, 3, 4},   {3, 0, 4},    {3, 4, 0},     {1, 1, 1},    {1, 5, 7},   {5, 1, 7},
      {5, 7, 1},   {1, 1, 9},    {9, 1, 1},     {1, 9, 1},    {2, 3, 2},   {2, 1, 3},
      {7, 5, 7},   {13, 1, 17},  {17, 3, 13},   {16, 16, 16}, {33, 2, 33}, {64, 3, 64},
      {31, 37, 41}, {100, 3, 9}, {9, 3, 100},   {256, 4, 9},  {250, 4, 9}, {211, 2, 5},
      {64, 32, 27}, {3, 64, 49}, {128, 1, 200}, {97, 1, 97},  {40, 7, 24},
  };
  return shapes;
}

const size_t kElementSizes[] = {1, 2, 3, 4, 8, 16};
// 64 is the floor (forces element- and B-split cycles), the others force the panel + block
// schemes with various block sizes; 2 MiB (default) mostly takes the one-copy path here.
const size_t kScratch[] = {64, 1024, 16384, size_t{2} << 20};

TEST(PermuteTest, OutOfPlaceMatchesReference) {
  for (size_t es : kElementSizes) {
    for (const Shape& sh : Shapes()) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 1);
      const Bytes want = Reference(in, es, sh);
      for (int threads : {1, 3}) {
        for (auto st : {PermuteOptions::Streaming::kNever, PermuteOptions::Streaming::kAlways}) {
          PermuteOptions opt;
          opt.num_threads = threads;
          opt.streaming_stores = st;
          Bytes out(n + 1, 0xAB);
          ASSERT_TRUE(PermuteABSToSBAOutOfPlace(in.data(), out.data(), es, sh.a, sh.b, sh.s, opt)
                          .ok());
          EXPECT_EQ(out[n], 0xAB) << "wrote past the end " << Name(sh, es);
          out.resize(n);
          EXPECT_TRUE(out == want) << Name(sh, es) << " threads=" << threads;
        }
      }
    }
  }
}

// A box of a larger array: every b-slice [b0, b1) of every row, and near-square boxes with
// B = 1 that take part of S, each permuted straight from the large array (rows B_total * S
// apart) gives what permuting the box copied out gives.
TEST(PermuteTest, BoxOfALargerArrayMatchesReference) {
  struct Box {
    Shape whole;
    int64_t b0, b1, s0, s1;  // the box: all a, [b0, b1), [s0, s1) (s1 - s0 < S only when b1 - b0 == 1)
  };
  const std::vector<Box> boxes = {
      {{7, 9, 5}, 2, 6, 0, 5},     {{7, 9, 5}, 0, 9, 0, 5},     {{64, 32, 16}, 8, 16, 0, 16},
      {{33, 5, 17}, 4, 5, 0, 17},  {{33, 5, 17}, 1, 2, 3, 11},  {{1, 9, 5}, 3, 7, 0, 5},
      {{9, 4, 1}, 1, 3, 0, 1},     {{9, 4, 1}, 2, 3, 0, 1},     {{256, 3, 9}, 1, 2, 0, 9},
      {{40, 7, 24}, 6, 7, 5, 6},   {{128, 6, 64}, 2, 5, 0, 64},
  };
  for (size_t es : kElementSizes) {
    for (const Box& box : boxes) {
      const Shape& w = box.whole;
      const Bytes whole = Random(static_cast<size_t>(w.a * w.b * w.s) * es, 7);
      const Shape sh{w.a, box.b1 - box.b0, box.s1 - box.s0};
      Bytes copied(static_cast<size_t>(sh.a * sh.b * sh.s) * es);
      for (int64_t a = 0; a < sh.a; ++a) {
        for (int64_t b = 0; b < sh.b; ++b) {
          std::memcpy(&copied[((a * sh.b + b) * sh.s) * es],
                      &whole[((a * w.b + box.b0 + b) * w.s + box.s0) * es],
                      static_cast<size_t>(sh.s) * es);
        }
      }
      const Bytes want = Reference(copied, es, sh);
      for (int threads : {1, 2}) {
        PermuteOptions opt;
        opt.num_threads = threads;
        Bytes out(copied.size() + 1, 0xAB);
        const unsigned char* src = &whole[((box.b0) * w.s + box.s0) * es];
        ASSERT_TRUE(
            PermuteBoxOutOfPlace(src, w.b * w.s, out.data(), es, sh.a, sh.b, sh.s, opt).ok());
        EXPECT_EQ(out.back(), 0xAB) << "wrote past the end";
        out.pop_back();
        EXPECT_TRUE(out == want) << Name(w, es) << " box b[" << box.b0 << "," << box.b1
                                 << ") s[" << box.s0 << "," << box.s1 << ") threads=" << threads;
      }
    }
  }
  const Bytes some(64);
  Bytes out(64);
  EXPECT_FALSE(PermuteBoxOutOfPlace(some.data(), 3, out.data(), 1, 4, 2, 2).ok())
      << "rows closer than their length overlap";
}

// Permutes a copy of `in` in place, checks it against `want`, permutes back and checks it is
// `in` again; `forward` (if given) receives the permuted bytes.
::testing::AssertionResult InPlaceRoundTrip(const Bytes& in, const Bytes& want, size_t es,
                                           const Shape& sh, size_t scratch, int threads,
                                           Bytes* forward = nullptr) {
  PermuteOptions opt;
  opt.max_scratch_bytes = scratch;
  opt.num_threads = threads;
  const std::string where =
      Name(sh, es) + " scratch=" + std::to_string(scratch) + " threads=" + std::to_string(threads);
  Bytes data = in;
  if (!PermuteABSToSBA(data.data(), es, sh.a, sh.b, sh.s, opt).ok() || data != want) {
    return ::testing::AssertionFailure() << where;
  }
  if (forward != nullptr) *forward = data;
  if (!PermuteABSToSBA(data.data(), es, sh.s, sh.b, sh.a, opt).ok() || data != in) {
    return ::testing::AssertionFailure() << "inverse " << where;
  }
  return ::testing::AssertionSuccess();
}

TEST(PermuteTest, InPlaceMatchesReferenceAndInverts) {
  for (size_t es : kElementSizes) {
    for (const Shape& sh : Shapes()) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 2);
      const Bytes want = Reference(in, es, sh);
      for (size_t scratch : kScratch) {
        for (int threads : {1, 3}) ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, threads));
      }
    }
  }
}

// Large enough for every scheme to have many panels, blocks and threads to share work.
TEST(PermuteTest, LargeShapesAllSchemes) {
  const std::vector<Shape> shapes = {{257, 33, 49}, {512, 16, 27}, {300, 2, 300}, {1000, 1, 999}};
  for (size_t es : kElementSizes) {
    for (const Shape& sh : shapes) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 3);
      const Bytes want = Reference(in, es, sh);
      for (size_t scratch : {size_t{64}, size_t{4096}, size_t{65536}, size_t{1} << 20}) {
        Bytes one_thread, three_threads;
        ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, 1, &one_thread));
        ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, 3, &three_threads));
        EXPECT_TRUE(one_thread == three_threads);
      }
    }
  }
}

// The cycle pass streams the moves of many cycles with prefetches running ahead across cycle
// boundaries (and, with threads, over ranges of cycle leaders): blocks of every size class
// (the fixed-size copies and the generic one), short and long cycles, any thread count.
TEST(PermuteTest, CyclePassBlockSizesAndThreads) {
  const std::vector<Shape> shapes = {{256, 8, 16}, {384, 5, 24}, {1024, 1, 48}, {96, 3, 640}};
  for (size_t es : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{8}, size_t{16}}) {
    for (const Shape& sh : shapes) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 11);
      const Bytes want = Reference(in, es, sh);
      for (size_t scratch : {size_t{256}, size_t{2048}, size_t{8192}, size_t{32768}}) {
        for (int threads : {1, 2, 4}) {
          ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, threads));
        }
      }
    }
  }
}

// When the scratch leaves blocks under 128 bytes, panels up to half the L3 are permuted in place
// (recursively, through the same scratch) so that the block pass gets larger blocks: shapes whose
// rows and columns exceed these small scratch sizes take that path, A side and S side.
TEST(PermuteTest, LargePanelsPermutedInPlace) {
  const std::vector<Shape> shapes = {{96, 64, 48}, {48, 64, 96}, {200, 30, 7}, {7, 30, 200},
                                     {64, 17, 128}};
  for (size_t es : {size_t{1}, size_t{2}, size_t{4}, size_t{8}}) {
    for (const Shape& sh : shapes) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 12);
      const Bytes want = Reference(in, es, sh);
      for (size_t scratch : {size_t{512}, size_t{4096}, size_t{40000}}) {
        Bytes one_thread, more_threads;
        ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, 1, &one_thread));
        for (int threads : {2, 3}) {
          ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, scratch, threads, &more_threads));
          EXPECT_TRUE(one_thread == more_threads);
        }
      }
    }
  }
}

// Fewer rows (A, after folding a dimension of 1) than the widest tile: the narrower tile
// kernels, with partial tiles at every edge, for the out-of-place path and for the in-place
// path's panels.
TEST(PermuteTest, FewRowsUseNarrowerTiles) {
  const std::vector<Shape> shapes = {{8, 64, 64},  {12, 5, 300}, {15, 3, 257}, {4, 9, 130},
                                     {9, 1, 1000}, {6, 33, 1},   {13, 40, 40}};
  for (size_t es : {size_t{1}, size_t{2}, size_t{4}, size_t{8}}) {
    for (const Shape& sh : shapes) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n, 13);
      const Bytes want = Reference(in, es, sh);
      for (int threads : {1, 2}) {
        PermuteOptions opt;
        opt.num_threads = threads;
        Bytes out(n);
        ASSERT_TRUE(PermuteABSToSBAOutOfPlace(in.data(), out.data(), es, sh.a, sh.b, sh.s, opt)
                        .ok());
        EXPECT_TRUE(out == want) << Name(sh, es) << " threads=" << threads;
        // Inverse shapes (S, B, A) with S rows per panel go through the same kernels in place.
        ASSERT_TRUE(InPlaceRoundTrip(in, want, es, sh, 2048, threads));
      }
    }
  }
}

TEST(PermuteTest, UnalignedBuffers) {
  // Streaming stores must fall back to ordinary ones on unaligned destinations.
  const Shape sh{512, 4, 16};
  for (size_t es : {size_t{1}, size_t{2}, size_t{4}, size_t{8}}) {
    const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
    Bytes in = Random(n + 3, 4);
    Bytes out(n + 3);
    PermuteOptions opt;
    opt.streaming_stores = PermuteOptions::Streaming::kAlways;
    ASSERT_TRUE(
        PermuteABSToSBAOutOfPlace(in.data() + 1, out.data() + 3, es, sh.a, sh.b, sh.s, opt).ok());
    const Bytes src(in.begin() + 1, in.begin() + 1 + static_cast<ptrdiff_t>(n));
    const Bytes got(out.begin() + 3, out.end());
    EXPECT_TRUE(got == Reference(src, es, sh)) << es;
    Bytes data = in;
    opt.max_scratch_bytes = 4096;
    ASSERT_TRUE(PermuteABSToSBA(data.data() + 1, es, sh.a, sh.b, sh.s, opt).ok());
    EXPECT_TRUE(Bytes(data.begin() + 1, data.begin() + 1 + static_cast<ptrdiff_t>(n)) ==
                Reference(src, es, sh));
  }
}

// Regression: a memory map of an external tensor at an odd file offset gives a misaligned
// buffer; odd shapes reach the scalar tile edges, which once stored through misaligned T*
// (undefined behaviour, caught by UBSan in the --in-place tests).
TEST(PermuteTest, MisalignedBuffersWithOddShapes) {
  // A == S shapes take the in-place tile swaps (SquareSwap), with edges of single elements.
  for (const Shape& sh : {Shape{7, 3, 5}, Shape{33, 2, 9}, Shape{5, 1, 5}, Shape{130, 3, 17},
                          Shape{37, 3, 37}, Shape{64, 2, 64}, Shape{19, 1, 19}}) {
    for (size_t es : {size_t{2}, size_t{4}, size_t{8}}) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n + 1, 9);
      const Bytes src(in.begin() + 1, in.end());
      const Bytes want = Reference(src, es, sh);
      Bytes out(n + 1);
      ASSERT_TRUE(PermuteABSToSBAOutOfPlace(in.data() + 1, out.data() + 1, es, sh.a, sh.b, sh.s).ok());
      EXPECT_TRUE(Bytes(out.begin() + 1, out.end()) == want) << es;
      Bytes data = in;
      PermuteOptions opt;
      opt.max_scratch_bytes = 256;  // the multi-pass path, not the copy-through-scratch one
      ASSERT_TRUE(PermuteABSToSBA(data.data() + 1, es, sh.a, sh.b, sh.s, opt).ok());
      EXPECT_TRUE(Bytes(data.begin() + 1, data.end()) == want) << es;
    }
  }
}

// The out-of-place kernels read and write elements at any byte address (lib/io/tiled_permute.cc
// permutes embedded payloads straight from a memory map, into a buffer shifted to match the
// output's file offset): every shape and typed element size, source and destination at offsets
// that are not multiples of the element size, in every kernel's edge cases.
TEST(PermuteTest, OutOfPlaceAtAnyByteOffset) {
  for (size_t es : {size_t{2}, size_t{4}, size_t{8}}) {
    for (const Shape& sh : Shapes()) {
      const size_t n = static_cast<size_t>(sh.a * sh.b * sh.s) * es;
      const Bytes in = Random(n + 8, 21);
      for (size_t src_off : {size_t{1}, es - 1, size_t{5}}) {
        const Bytes src(in.begin() + src_off, in.begin() + src_off + static_cast<ptrdiff_t>(n));
        const Bytes want = Reference(src, es, sh);
        for (size_t dst_off : {size_t{0}, size_t{3}}) {
          Bytes out(n + 8, 0xAB);
          ASSERT_TRUE(PermuteABSToSBAOutOfPlace(in.data() + src_off, out.data() + dst_off, es,
                                                sh.a, sh.b, sh.s)
                          .ok());
          EXPECT_TRUE(Bytes(out.begin() + dst_off, out.begin() + dst_off + n) == want)
              << Name(sh, es) << " src+" << src_off << " dst+" << dst_off;
          EXPECT_EQ(out[dst_off + n], 0xAB) << "wrote past the end " << Name(sh, es);
        }
      }
    }
  }
}

TEST(PermuteTest, InvalidInputLeavesDataUntouched) {
  const Bytes in = Random(64, 5);
  const std::vector<std::tuple<size_t, int64_t, int64_t, int64_t>> bad = {
      {4, -1, 2, 2}, {4, 2, -1, 2}, {4, 2, 2, -1}, {0, 2, 2, 2},
      {4, int64_t{1} << 40, int64_t{1} << 20, 2}, {size_t{1} << 62, 2, 2, 2}};
  for (const auto& [es, a, b, s] : bad) {
    Bytes data = in;
    const absl::Status st = PermuteABSToSBA(data.data(), es, a, b, s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << a << " " << b << " " << s;
    EXPECT_TRUE(data == in);
    Bytes out = in;
    EXPECT_FALSE(PermuteABSToSBAOutOfPlace(in.data(), out.data(), es, a, b, s).ok());
    EXPECT_TRUE(out == in);
  }
}

TEST(PermuteTest, ReportsKernelIsa) {
  const std::string isa = PermuteKernelIsa();
  EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "sse2" || isa == "scalar") << isa;
}

// Many in-place calls in a row, as the streamed writer makes one per tensor, with small
// allocations kept alive between them (as the model's tensor entries are): the heap must not
// grow per call. Allocating and freeing the 2 MiB panel scratch per call grew glibc's heap by
// 2 MiB per tensor (2 GiB peak RSS on an 8 GiB model in bench/e2e_compare.py).
TEST(PermuteTest, RepeatedCallsDoNotGrowTheHeap) {
  const int64_t a = 512, b = 256, s = 16;  // 8 MiB of float32: two passes, 2 MiB panels
  std::vector<uint32_t> data(static_cast<size_t>(a * b * s), 1u);
  std::vector<std::unique_ptr<std::string>> kept;
  auto heap = [] { return mallinfo2().arena; };
  ASSERT_TRUE(PermuteABSToSBA(data.data(), 4, a, b, s).ok());
  kept.push_back(std::make_unique<std::string>(100, 'x'));
  const size_t before = heap();
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(PermuteABSToSBA(data.data(), 4, a, b, s).ok());
    kept.push_back(std::make_unique<std::string>(100, 'x'));
  }
  EXPECT_LT(heap() - before, size_t{8} << 20) << "heap grew by " << (heap() - before) << " bytes";
}

}  // namespace
}  // namespace tflayout
