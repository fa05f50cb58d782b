// Writing scattered pieces of files so that the page cache receives whole, aligned blocks.
//
// A write that covers only part of a page the page cache does not hold yet costs the kernel a
// fresh page, zeroed around the bytes written, and the page is copied into twice when its other
// part arrives later; and the page cache allocates larger folios (several pages, fewer
// allocations, buffer heads and list insertions per byte) for writes aligned to them. The tiled
// permuter writes each tensor as runs scattered through the output (one per output plane per
// tile), and a payload embedded in a model file starts wherever the protobuf put it, so nearly
// every run begins and ends inside a page.
//
// PageWriter holds the bytes of a piece that fall on a partly covered block (kBlockBytes, a
// multiple of the page size) until the rest of that block arrives (usually with the adjacent run
// of the next tile), then writes the completed block together with the piece's whole blocks in
// one pwritev. Blocks never completed (the first and last of a tensor share bytes with the
// protobuf around it) are written as they are by Flush, or when more than kMaxPendingBlocks are
// waiting (oldest first). The bytes that reach the file are exactly the pieces' bytes; only the
// moment each is written changes, and every byte is written by the time Flush returns.
//
// Measured on bench/copy_bench.py's embedded model (1 GiB, 64 KiB runs at an odd offset), busy
// time of the writer thread, which bounds that model's wall time (medians of five alternating
// runs each): writing the runs as they come 0.384 s; 4 KiB blocks 0.345; 8 KiB 0.29;
// 16 KiB 0.25; 32 KiB 0.27; 64 KiB 0.33 (every byte of a 64 KiB run then goes through a held
// block: one more copy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tflayout {

class PageWriter {
 public:
  // Bytes per block: 16 KiB, or the page size if larger (see above).
  static constexpr size_t kBlockBytes = size_t{16} << 10;
  // Blocks waiting for their missing bytes, at most (memory: this many blocks).
  static constexpr size_t kMaxPendingBlocks = 64;

  PageWriter();
  size_t block_bytes() const { return block_; }

  // Writes `size` bytes of `data` at `offset` of `fd` (the pieces given to one PageWriter must not
  // overlap). `fd` must stay open until Flush returns; `path` names it in errors.
  absl::Status Write(int fd, const std::string& path, const char* data, size_t size,
                     int64_t offset);
  // Writes every byte still held. The first error of any write, Write's or this one's, is
  // returned by the call that hit it.
  absl::Status Flush();

  size_t pending_blocks() const { return pending_.size(); }

 private:
  struct Pending {
    int fd = -1;
    std::string path;
    int64_t block_offset = 0;                        // file offset of the block's first byte
    std::vector<std::pair<size_t, size_t>> covered;  // sorted, disjoint [begin, end) in the block
    std::unique_ptr<char[]> bytes;
  };

  // Copies [begin, end) of the block at `block_offset` into its pending block; the block, whole,
  // if that completed it (it is then no longer pending: the caller writes it), else null. Writes
  // the oldest pending block first when kMaxPendingBlocks are held.
  absl::StatusOr<std::unique_ptr<char[]>> Hold(int fd, const std::string& path, int64_t block_offset,
                               const char* data, size_t begin, size_t end);
  absl::Status WriteHeld(const Pending& block);

  size_t block_;
  std::vector<Pending> pending_;  // oldest first
};

}  // namespace tflayout
