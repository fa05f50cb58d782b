// lib/io/tiled_permute.h: moving a permuted weight between files tile by tile gives exactly what
// the in-memory kernel gives, for every tile shape ChooseTile picks (whole rows on both sides,
// near-square boxes, a box of one element) and for any element size; and the tile never
// exceeds its budget.
#include "lib/io/tiled_permute.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "lib/io/file_util.h"
#include "tflayout/permute.h"
#include "tests/permute_case.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using testing::PermuteCase;

TEST(TiledPermute, BetweenFilesEqualsTheInMemoryKernel) {
  const std::vector<PermuteCase> cases = {
      {3, 5, 7, 4, 1 << 20},    // whole tensor in one tile
      {64, 32, 9, 4, 4096},     // whole rows, several b per tile
      {64, 32, 9, 4, 64 * 36},  // exactly one b per tile
      {100, 3, 100, 4, 1000},   // near-square boxes, edges
      {7, 2, 300, 2, 100},      // A fits the side: whole A, S split
      {300, 2, 7, 8, 200},      // S fits the side: whole S, A split
      {5, 4, 3, 3, 1},          // odd element size, one-element tiles
      {1, 50, 40, 1, 64},       // A == 1: a B x S transpose
      {40, 50, 1, 1, 64},       // S == 1
      {16, 16, 16, 4, 4 * 16 * 16 - 4},
  };
  const std::string dir = testing::MakeTempDir();
  for (const PermuteCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << c);
    const size_t n = c.Bytes();
    std::string input, want;
    ASSERT_TRUE(c.InputAndExpected(input, want));
    // Offsets that are not multiples of anything, on both sides.
    const std::string in_path = dir + "/in.bin", out_path = dir + "/out.bin";
    testing::WriteFile(in_path, "xyz" + input + "tail");
    FileDescriptor in(::open(in_path.c_str(), O_RDONLY));
    ASSERT_GE(in.get(), 0);
    const TileShape tile = ChooseTile(c.a, c.b, c.s, c.element_size, c.tile_bytes);
    EXPECT_LE(static_cast<size_t>(tile.a * tile.b * tile.s) * c.element_size,
              std::max(c.tile_bytes, c.element_size));
    // One thread, and a writer thread beside the permuting one (then three: the tiles'
    // permutes are split too).
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(::testing::Message() << "threads=" << threads);
      testing::WriteFile(out_path, "ab");
      FileDescriptor out(::open(out_path.c_str(), O_RDWR));
      ASSERT_GE(out.get(), 0);
      WeightStore::Permute permute{c.a, c.b, c.s, {}};
      permute.options.num_threads = threads;
      ASSERT_TRUE(PermuteBetweenFiles({in.get(), in_path, 3}, {out.get(), out_path, 2},
                                      c.element_size, permute, c.tile_bytes).ok());
      EXPECT_EQ(testing::ReadFile(out_path), "ab" + want);
    }
  }
}

// One FilePermuter for several tensors of one output (as the streamed writer uses it): tensors
// read whole (up to two tiles) and tile by tile alternate, the buffers are reused, and the
// bytes are all in place once Finish returns.
TEST(TiledPermute, OnePermuterForSeveralTensors) {
  const std::vector<PermuteCase> cases = {
      {16, 8, 9, 4, 4096}, {64, 32, 9, 4, 4096}, {3, 5, 7, 2, 4096}, {100, 3, 100, 4, 4096},
      {16, 8, 9, 4, 4096},
  };
  const std::string dir = testing::MakeTempDir();
  std::string input, expected;
  for (const PermuteCase& c : cases) {
    std::string in, want;
    ASSERT_TRUE(c.InputAndExpected(in, want));
    input += in;
    expected += want;
  }
  const std::string in_path = dir + "/in.bin", out_path = dir + "/out.bin";
  testing::WriteFile(in_path, input);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "threads=" << threads);
    testing::WriteFile(out_path, "");
    FileDescriptor in(::open(in_path.c_str(), O_RDONLY));
    FileDescriptor out(::open(out_path.c_str(), O_RDWR));
    ASSERT_GE(in.get(), 0);
    ASSERT_GE(out.get(), 0);
    auto permuter = FilePermuter::Create(4096, threads);
    ASSERT_TRUE(permuter.ok());
    int64_t offset = 0;
    for (const PermuteCase& c : cases) {
      WeightStore::Permute permute{c.a, c.b, c.s, {}};
      ASSERT_TRUE((*permuter)
                      ->Permute({in.get(), in_path, offset}, {out.get(), out_path, offset},
                                c.element_size, permute)
                      .ok());
      offset += static_cast<int64_t>(c.Bytes());
    }
    ASSERT_TRUE((*permuter)->Finish().ok());
    EXPECT_TRUE(testing::ReadFile(out_path) == expected);
  }
}

// A write that fails (a read-only descriptor) is reported by Finish, with the path.
TEST(TiledPermute, WriteErrorsAreReported) {
  const std::string dir = testing::MakeTempDir();
  const PermuteCase c{64, 32, 9, 4, 4096};
  std::string input, want;
  ASSERT_TRUE(c.InputAndExpected(input, want));
  const std::string in_path = dir + "/in.bin", out_path = dir + "/out.bin";
  testing::WriteFile(in_path, input);
  testing::WriteFile(out_path, "");
  for (int threads : {1, 2}) {
    FileDescriptor in(::open(in_path.c_str(), O_RDONLY));
    FileDescriptor out(::open(out_path.c_str(), O_RDONLY));
    WeightStore::Permute permute{c.a, c.b, c.s, {}};
    permute.options.num_threads = threads;
    const absl::Status st = PermuteBetweenFiles({in.get(), in_path, 0}, {out.get(), out_path, 0},
                                                c.element_size, permute, c.tile_bytes);
    EXPECT_FALSE(st.ok()) << "threads=" << threads;
    EXPECT_NE(st.message().find(out_path), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace tflayout
