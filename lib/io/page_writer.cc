#include "lib/io/page_writer.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "lib/io/file_util.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

// A run of the file: `size` bytes at `offset`, from `data`.
struct Segment {
  int64_t offset;
  const char* data;
  size_t size;
};

}  // namespace

PageWriter::PageWriter() {
  const long page = ::sysconf(_SC_PAGESIZE);
  const size_t p = page > 0 ? static_cast<size_t>(page) : 4096;
  block_ = (std::max(kBlockBytes, p) + p - 1) / p * p;
}

absl::StatusOr<std::unique_ptr<char[]>> PageWriter::Hold(int fd, const std::string& path,
                                                         int64_t block_offset, const char* data,
                                                         size_t begin, size_t end) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.fd == fd && p.block_offset == block_offset;
  });
  if (it == pending_.end()) {
    if (pending_.size() >= kMaxPendingBlocks) {
      TFL_RETURN_IF_ERROR(WriteHeld(pending_.front()));
      pending_.erase(pending_.begin());
    }
    Pending fresh;
    fresh.fd = fd;
    fresh.path = path;
    fresh.block_offset = block_offset;
    fresh.bytes.reset(new char[block_]);
    pending_.push_back(std::move(fresh));
    it = pending_.end() - 1;
  }
  std::memcpy(it->bytes.get() + begin, data, end - begin);
  // Insert [begin, end) into the sorted coverage, merging neighbours.
  auto& cov = it->covered;
  auto pos = std::lower_bound(cov.begin(), cov.end(), std::make_pair(begin, end));
  pos = cov.insert(pos, {begin, end});
  std::vector<std::pair<size_t, size_t>> merged;
  for (const auto& r : cov) {
    if (!merged.empty() && r.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  cov = std::move(merged);
  if (cov.size() != 1 || cov[0].first != 0 || cov[0].second != block_) return nullptr;
  std::unique_ptr<char[]> whole = std::move(it->bytes);
  pending_.erase(it);
  return whole;
}

absl::Status PageWriter::WriteHeld(const Pending& block) {
  for (const auto& [begin, end] : block.covered) {
    TFL_RETURN_IF_ERROR(PwriteAll(block.fd, block.bytes.get() + begin, end - begin,
                                  block.block_offset + static_cast<int64_t>(begin), block.path));
  }
  return absl::OkStatus();
}

absl::Status PageWriter::Write(int fd, const std::string& path, const char* data, size_t size,
                               int64_t offset) {
  if (size == 0) return absl::OkStatus();
  const int64_t block = static_cast<int64_t>(block_);
  const int64_t end = offset + static_cast<int64_t>(size);
  const int64_t first_block = offset / block * block;
  const int64_t last_block = (end - 1) / block * block;
  // Whole blocks in the middle: [mid_begin, mid_end).
  const int64_t mid_begin = offset == first_block ? offset : first_block + block;
  const int64_t mid_end = end % block == 0 ? end : last_block;
  std::vector<std::unique_ptr<char[]>> completed;
  std::vector<Segment> segs;
  auto hold = [&](int64_t block_offset, int64_t from, int64_t to) -> absl::Status {
    TFL_ASSIGN_OR_RETURN(std::unique_ptr<char[]> whole,
                         Hold(fd, path, block_offset, data + (from - offset),
                              static_cast<size_t>(from - block_offset),
                              static_cast<size_t>(to - block_offset)));
    if (whole != nullptr) {
      segs.push_back({block_offset, whole.get(), block_});
      completed.push_back(std::move(whole));
    }
    return absl::OkStatus();
  };
  if (offset != first_block) {  // the piece starts inside a block
    TFL_RETURN_IF_ERROR(hold(first_block, offset, std::min(end, first_block + block)));
  }
  if (mid_end > mid_begin) {
    segs.push_back(
        {mid_begin, data + (mid_begin - offset), static_cast<size_t>(mid_end - mid_begin)});
  }
  if (end % block != 0 && (last_block != first_block || offset == first_block)) {
    TFL_RETURN_IF_ERROR(hold(last_block, std::max(offset, last_block), end));
  }
  // The segments are in file order; each run of contiguous ones goes out in one pwritev.
  for (size_t first = 0, i = 0; first < segs.size(); first = i) {
    std::vector<iovec> iov;
    do {
      iov.push_back({const_cast<char*>(segs[i].data), segs[i].size});
      ++i;
    } while (i < segs.size() &&
             segs[i].offset == segs[i - 1].offset + static_cast<int64_t>(segs[i - 1].size));
    TFL_RETURN_IF_ERROR(PwritevAll(fd, std::move(iov), segs[first].offset, path));
  }
  return absl::OkStatus();
}

absl::Status PageWriter::Flush() {
  absl::Status first;
  for (const Pending& block : pending_) {
    absl::Status st = WriteHeld(block);
    if (!st.ok() && first.ok()) first = st;
  }
  pending_.clear();
  return first;
}

}  // namespace tflayout
