// Writing scattered pieces of files so that the page cache receives whole pages.
//
// A write that covers only part of a page the page cache does not hold yet costs the kernel a
// fresh page, zeroed around the bytes written, and the page is copied into twice when its other
// part arrives later. The tiled permuter writes each tensor as runs that are scattered through
// the output (one per output plane per tile), and a payload embedded in a model file starts
// wherever the protobuf put it, so nearly every run begins and ends inside a page.
//
// PageWriter holds the bytes of a piece that fall on a partly covered page until the rest of
// that page arrives (usually the adjacent run of the next tile), then writes the completed page
// together with the piece's whole pages in one pwritev. Pages never completed (the first and last
// page of a tensor share bytes with the protobuf around it) are written as they are by Flush, or
// when more than kMaxPendingPages are waiting (oldest first). The bytes that reach the file are
// exactly the pieces' bytes; only the moment each is written changes, and every byte is written
// by the time Flush returns.
//
// With the buffer shift of lib/io/tiled_permute.cc (LineShift), this took the writer thread's
// busy time on bench/copy_bench.py's embedded model from 0.384 to 0.345 s (medians of six
// alternating runs; the writer is what bounds that model's wall time).
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
  // Pages waiting for their missing bytes, at most (memory: this many pages).
  static constexpr size_t kMaxPendingPages = 64;

  PageWriter();

  // Writes `size` bytes of `data` at `offset` of `fd` (the pieces given to one PageWriter must not
  // overlap). `fd` must stay open until Flush returns; `path` names it in errors.
  absl::Status Write(int fd, const std::string& path, const char* data, size_t size,
                     int64_t offset);
  // Writes every byte still held. The first error of any write, Write's or this one's, is
  // returned by the call that hit it.
  absl::Status Flush();

  size_t pending_pages() const { return pending_.size(); }

 private:
  struct Pending {
    int fd = -1;
    std::string path;
    int64_t page_offset = 0;                         // file offset of the page's first byte
    std::vector<std::pair<size_t, size_t>> covered;  // sorted, disjoint [begin, end) in the page
    std::unique_ptr<char[]> bytes;
  };

  // Copies [begin, end) of the page at `page_offset` into its pending page; the page, whole, if
  // that completed it (it is then no longer pending: the caller writes it), else null. Writes
  // the oldest pending page first when kMaxPendingPages are held.
  absl::StatusOr<std::unique_ptr<char[]>> Hold(int fd, const std::string& path, int64_t page_offset,
                               const char* data, size_t begin, size_t end);
  absl::Status WriteHeld(const Pending& page);

  size_t page_;
  std::vector<Pending> pending_;  // oldest first
};

}  // namespace tflayout
