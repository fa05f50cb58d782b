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

// Writes segments that follow each other in the file with one pwritev.
absl::Status WriteContiguous(int fd, const std::string& path, const std::vector<Segment>& segs) {
  std::vector<iovec> iov;
  for (const Segment& s : segs) iov.push_back({const_cast<char*>(s.data), s.size});
  return PwritevAll(fd, std::move(iov), segs.front().offset, path);
}

}  // namespace

PageWriter::PageWriter() {
  const long page = ::sysconf(_SC_PAGESIZE);
  page_ = page > 0 ? static_cast<size_t>(page) : 4096;
}

absl::StatusOr<std::unique_ptr<char[]>> PageWriter::Hold(int fd, const std::string& path,
                                                         int64_t page_offset, const char* data,
                                                         size_t begin, size_t end) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.fd == fd && p.page_offset == page_offset;
  });
  if (it == pending_.end()) {
    if (pending_.size() >= kMaxPendingPages) {
      TFL_RETURN_IF_ERROR(WriteHeld(pending_.front()));
      pending_.erase(pending_.begin());
    }
    Pending fresh;
    fresh.fd = fd;
    fresh.path = path;
    fresh.page_offset = page_offset;
    fresh.bytes.reset(new char[page_]);
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
  if (cov.size() != 1 || cov[0].first != 0 || cov[0].second != page_) return nullptr;
  std::unique_ptr<char[]> whole = std::move(it->bytes);
  pending_.erase(it);
  return whole;
}

absl::Status PageWriter::WriteHeld(const Pending& page) {
  for (const auto& [begin, end] : page.covered) {
    TFL_RETURN_IF_ERROR(PwriteAll(page.fd, page.bytes.get() + begin, end - begin,
                                  page.page_offset + static_cast<int64_t>(begin), page.path));
  }
  return absl::OkStatus();
}

absl::Status PageWriter::Write(int fd, const std::string& path, const char* data, size_t size,
                               int64_t offset) {
  if (size == 0) return absl::OkStatus();
  const int64_t page = static_cast<int64_t>(page_);
  const int64_t end = offset + static_cast<int64_t>(size);
  const int64_t first_page = offset / page * page;
  const int64_t last_page = (end - 1) / page * page;
  // Whole pages in the middle: [mid_begin, mid_end).
  const int64_t mid_begin = offset == first_page ? offset : first_page + page;
  const int64_t mid_end = end % page == 0 ? end : last_page;
  std::vector<std::unique_ptr<char[]>> completed;
  std::vector<Segment> segs;
  auto hold = [&](int64_t page_offset, int64_t from, int64_t to) -> absl::Status {
    TFL_ASSIGN_OR_RETURN(std::unique_ptr<char[]> whole,
                         Hold(fd, path, page_offset, data + (from - offset),
                              static_cast<size_t>(from - page_offset),
                              static_cast<size_t>(to - page_offset)));
    if (whole != nullptr) {
      segs.push_back({page_offset, whole.get(), page_});
      completed.push_back(std::move(whole));
    }
    return absl::OkStatus();
  };
  if (offset != first_page) {  // the piece starts inside a page
    TFL_RETURN_IF_ERROR(hold(first_page, offset, std::min(end, first_page + page)));
  }
  if (mid_end > mid_begin) {
    segs.push_back({mid_begin, data + (mid_begin - offset), static_cast<size_t>(mid_end - mid_begin)});
  }
  if (end % page != 0 && (last_page != first_page || offset == first_page)) {
    TFL_RETURN_IF_ERROR(hold(last_page, std::max(offset, last_page), end));
  }
  // The segments are in file order; write each contiguous group at once.
  size_t group = 0;
  for (size_t i = 1; i <= segs.size(); ++i) {
    if (i == segs.size() ||
        segs[i].offset != segs[i - 1].offset + static_cast<int64_t>(segs[i - 1].size)) {
      TFL_RETURN_IF_ERROR(WriteContiguous(
          fd, path, std::vector<Segment>(segs.begin() + group, segs.begin() + i)));
      group = i;
    }
  }
  return absl::OkStatus();
}

absl::Status PageWriter::Flush() {
  absl::Status first;
  for (const Pending& page : pending_) {
    absl::Status st = WriteHeld(page);
    if (!st.ok() && first.ok()) first = st;
  }
  pending_.clear();
  return first;
}

}  // namespace tflayout
