// Writing behind a producer: buffers filled by one thread are written to their files by another,
// so that computing the next bytes (permuting a tile) overlaps with copying the last ones into
// the page cache. Memory is the buffers, allocated once and reused; a buffer's pages are
// faulted in only as far as the producer fills it. Pieces go through a PageWriter
// (lib/io/page_writer.h): the page cache receives whole aligned blocks wherever the pieces
// complete them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/io/page_buffer.h"
#include "lib/io/page_writer.h"

namespace tflayout {

class WriteBehind {
 public:
  // Bytes of a buffer going to one place of a file.
  struct Piece {
    int64_t file_offset = 0;
    size_t buffer_offset = 0;
    size_t size = 0;
  };
  // A buffer and where its bytes go (fd must stay open until Drain returns).
  struct Batch {
    char* data = nullptr;
    size_t capacity = 0;
    int fd = -1;
    std::string path;  // for messages
    std::vector<Piece> pieces;
  };

  // `buffers` buffers of `buffer_bytes`. With `threaded`, a writer thread writes them while the
  // caller fills the next; otherwise Submit writes on the calling thread (same bytes, no overlap).
  static absl::StatusOr<std::unique_ptr<WriteBehind>> Create(size_t buffer_bytes, int buffers,
                                                             bool threaded);
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  size_t buffer_bytes() const { return buffer_bytes_; }
  bool threaded() const { return writer_.joinable(); }

  // A free buffer, its pieces cleared (waits while every buffer is queued). Fails with the
  // first write error, after which nothing more is written.
  absl::StatusOr<Batch*> Acquire();
  // Queues a buffer from Acquire (the caller must not touch it until it comes back from Acquire).
  absl::Status Submit(Batch* batch);
  // Waits until everything submitted is written (blocks held by the PageWriter included); the
  // first write error, if any.
  absl::Status Drain();

 private:
  WriteBehind(size_t buffer_bytes, std::vector<PageBuffer> storage);
  void WriterLoop();
  absl::Status WriteBatch(const Batch& batch);

  size_t buffer_bytes_;
  std::vector<PageBuffer> storage_;
  std::vector<Batch> batches_;
  PageWriter pages_;  // used by the writer thread, or by Submit's caller when not threaded
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Batch*> free_;
  std::deque<Batch*> queued_;
  bool writing_ = false;  // the writer holds a batch
  bool stop_ = false;
  absl::Status error_;
  std::thread writer_;
};

}  // namespace tflayout
