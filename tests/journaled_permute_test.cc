// lib/io/journaled_permute.h: the step-by-step in-place permutation of a file region gives
// exactly what the in-memory kernel gives, for every schedule it plans (blocks then chunks,
// chunks then blocks, blocks split into lanes, a dimension of 1, odd element sizes, one-element
// blocks); and the journal it leaves holds one step's bytes, not the tensor's. (Kills at every
// step, and recovery, are in tests/inplace_test.cc through the tool.)
#include "lib/io/journaled_permute.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/io/file_util.h"
#include "lib/io/step_journal.h"
#include "tflayout/permute.h"
#include "tests/permute_case.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using testing::PermuteCase;

TEST(JournaledPermute, InPlaceEqualsTheInMemoryKernel) {
  const std::vector<PermuteCase> cases = {
      {64, 32, 9, 4, 4096},      // blocks of B*S divisors, then (A, u) chunks
      {4, 300, 7, 4, 8400},      // (t, B*S) chunks first, then blocks of t elements
      {16, 16, 16, 4, 256},      // small tile: many steps, several chunks per step
      {32, 8, 4, 8, 64},         // blocks larger than half a tile: lanes
      {13, 7, 11, 4, 128},       // primes: one-element blocks
      {1, 50, 40, 1, 64},        // A == 1: only (B, S, 1) -> (S, B, 1)
      {40, 50, 1, 2, 64},        // S == 1: only the A x B transpose
      {40, 1, 50, 2, 64},        // B == 1
      {5, 4, 3, 3, 1},           // odd element size, tile under one element
      {128, 64, 16, 4, 1 << 14}, // 512 KiB through 16 KiB tiles
  };
  // On tmpfs when there is one: the steps' fsyncs are what this test is not about, and on a
  // busy disk they made it take a minute (the kill tests in inplace_test run on the disk).
  std::string dir;
  {
    char tmpl[] = "/dev/shm/tflayout_journaled_permute_XXXXXX";
    dir = ::access("/dev/shm", W_OK) == 0 && ::mkdtemp(tmpl) != nullptr ? tmpl
                                                                        : testing::MakeTempDir();
  }
  for (const PermuteCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << c);
    const size_t n = c.Bytes();
    std::string input, want;
    ASSERT_TRUE(c.InputAndExpected(input, want));
    const std::string data_path = dir + "/w.data", journal_path = dir + "/w.journal";
    testing::WriteFile(data_path, "xyz" + input + "tail");  // an unaligned region
    StepJournal journal(journal_path);
    ASSERT_TRUE(journal.Remove().ok());
    FileDescriptor fd(::open(data_path.c_str(), O_RDWR));
    ASSERT_GE(fd.get(), 0);
    ExternalRegion region;
    region.path = region.location = data_path;
    region.offset = 3;
    region.length = static_cast<int64_t>(n);
    region.element_size = c.element_size;
    region.count = c.a * c.b * c.s;
    const absl::Status st = PermuteRegionJournaled(region, fd.get(), {c.a, c.b, c.s, {}},
                                                   c.tile_bytes, "", journal);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(testing::ReadFile(data_path), "xyz" + want + "tail");
    // The two step files hold the last two steps: their bytes and where they start, about a
    // tile, never the tensor.
    EXPECT_LE(journal.AllocatedBytes(), 4 * static_cast<int64_t>(c.tile_bytes) + 16384);
    if (n >= (size_t{256} << 10)) EXPECT_LT(journal.AllocatedBytes(), static_cast<int64_t>(n) / 4);
    // Recovery finds the last step; undoing it and resuming from it gives the same result.
    StepJournal reread(journal_path);
    auto last = reread.ReadLast();
    ASSERT_TRUE(last.ok()) << last.status();
    ASSERT_TRUE(last->has_value());
    EXPECT_EQ(std::get<1>((*last)->key), 3);
    ASSERT_TRUE(UndoJournaledStep((*last)->payload, fd.get(), data_path).ok());
    EXPECT_NE(testing::ReadFile(data_path), "xyz" + want + "tail");
    ASSERT_TRUE(PermuteRegionJournaled(region, fd.get(), {c.a, c.b, c.s, {}}, 12345,
                                       (*last)->payload, reread).ok());
    EXPECT_EQ(testing::ReadFile(data_path), "xyz" + want + "tail");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tflayout
