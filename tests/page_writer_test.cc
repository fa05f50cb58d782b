#include "lib/io/page_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

const size_t kBlock = PageWriter().block_bytes();

struct Piece {
  int64_t offset;
  size_t size;
};

// A file of `size` bytes of 'x' (what the pieces must leave alone), opened for writing.
class Target {
 public:
  explicit Target(size_t size) : path_(testing::MakeTempDir() + "/out.bin") {
    testing::WriteFile(path_, std::string(size, 'x'));
    fd_ = ::open(path_.c_str(), O_WRONLY);
  }
  ~Target() { ::close(fd_); }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  std::string Contents() const { return testing::ReadFile(path_); }

 private:
  std::string path_;
  int fd_;
};

// Splits [begin, end) into pieces of random sizes (1 byte to three blocks).
std::vector<Piece> RandomPieces(int64_t begin, int64_t end, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Piece> pieces;
  for (int64_t at = begin; at < end;) {
    const size_t size = std::min<size_t>(end - at, 1 + rng() % (3 * kBlock));
    pieces.push_back({at, size});
    at += static_cast<int64_t>(size);
  }
  return pieces;
}

TEST(PageWriterTest, ShuffledPiecesLandExactlyAndNothingElseIsTouched) {
  const size_t file_size = 40 * kBlock;
  const std::string data = testing::RandomBytes(file_size, 7);
  for (uint32_t seed : {1u, 2u, 3u}) {
    Target target(file_size);
    const int64_t begin = 37, end = static_cast<int64_t>(file_size - kBlock - 5);
    std::vector<Piece> pieces = RandomPieces(begin, end, seed);
    std::shuffle(pieces.begin(), pieces.end(), std::mt19937(seed));
    PageWriter writer;
    for (const Piece& p : pieces) {
      ASSERT_TRUE(writer.Write(target.fd(), target.path(), data.data() + p.offset, p.size,
                               p.offset).ok());
    }
    ASSERT_TRUE(writer.Flush().ok());
    EXPECT_EQ(writer.pending_blocks(), 0u);
    std::string want(file_size, 'x');
    want.replace(begin, end - begin, data.substr(begin, end - begin));
    EXPECT_EQ(target.Contents(), want) << "seed " << seed;
  }
}

// The tiled permuter's pattern: runs of a tensor at an odd offset, each run's neighbour arriving
// later. A block is written as soon as it is complete; only the tensor's first and last blocks,
// which it shares with bytes that are not its own, wait for Flush.
TEST(PageWriterTest, CompletedBlocksAreWrittenAtOnceOnlyTheEndsWait) {
  const size_t file_size = 64 * kBlock;
  const std::string data = testing::RandomBytes(file_size, 11);
  Target target(file_size);
  const int64_t begin = 42, run = static_cast<int64_t>(4 * kBlock);
  const int runs = 12;
  PageWriter writer;
  for (int r = 0; r < runs; ++r) {
    const int64_t at = begin + r * run;
    ASSERT_TRUE(writer.Write(target.fd(), target.path(), data.data() + at, run, at).ok());
  }
  EXPECT_EQ(writer.pending_blocks(), 2u);
  const int64_t end = begin + runs * run;
  const int64_t first_whole = (begin / kBlock + 1) * kBlock, last_whole = end / kBlock * kBlock;
  const std::string before_flush = target.Contents();
  EXPECT_EQ(before_flush.substr(first_whole, last_whole - first_whole),
            data.substr(first_whole, last_whole - first_whole));
  EXPECT_EQ(before_flush.substr(begin, first_whole - begin), std::string(first_whole - begin, 'x'));
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(target.Contents().substr(begin, end - begin), data.substr(begin, end - begin));
  EXPECT_EQ(target.Contents().substr(0, begin), std::string(begin, 'x'));
  EXPECT_EQ(target.Contents().substr(end), std::string(file_size - end, 'x'));
}

TEST(PageWriterTest, HoldsAtMostTheLimitAndWritesTheOldestBeyondIt) {
  const size_t blocks = PageWriter::kMaxPendingBlocks + 10;
  const size_t file_size = blocks * kBlock;
  const std::string data = testing::RandomBytes(file_size, 13);
  Target target(file_size);
  PageWriter writer;
  std::string want(file_size, 'x');
  for (size_t p = 0; p < blocks; ++p) {  // a few bytes in the middle of every block
    const int64_t at = static_cast<int64_t>(p * kBlock + 100);
    ASSERT_TRUE(writer.Write(target.fd(), target.path(), data.data() + at, 50, at).ok());
    want.replace(at, 50, data.substr(at, 50));
    EXPECT_LE(writer.pending_blocks(), PageWriter::kMaxPendingBlocks);
  }
  // The oldest ten went out when the limit was reached.
  EXPECT_EQ(target.Contents().substr(0, 10 * kBlock), want.substr(0, 10 * kBlock));
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(target.Contents(), want);
}

TEST(PageWriterTest, WriteErrorsNameTheFile) {
  Target target(4 * kBlock);
  const int read_only = ::open(target.path().c_str(), O_RDONLY);
  const std::string data(2 * kBlock, 'd');
  PageWriter writer;
  // Whole blocks are written at once: the error comes from Write.
  absl::Status st = writer.Write(read_only, target.path(), data.data(), kBlock, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(target.path()));
  // A partial block is held: the error comes from Flush.
  ASSERT_TRUE(writer.Write(read_only, target.path(), data.data(), 10, static_cast<int64_t>(kBlock) + 1).ok());
  st = writer.Flush();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(target.path()));
  ::close(read_only);
  EXPECT_EQ(target.Contents(), std::string(4 * kBlock, 'x'));
}

}  // namespace
}  // namespace tflayout
