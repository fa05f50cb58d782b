#include "lib/io/write_behind.h"

#include <algorithm>
#include <utility>

#include "lib/io/file_util.h"
#include "tflayout/status.h"

namespace tflayout {

absl::StatusOr<std::unique_ptr<WriteBehind>> WriteBehind::Create(size_t buffer_bytes,
                                                                  int buffers, bool threaded) {
  std::vector<PageBuffer> storage;
  for (int i = 0; i < std::max(1, buffers); ++i) {
    TFL_ASSIGN_OR_RETURN(PageBuffer b, PageBuffer::Allocate(buffer_bytes));
    storage.push_back(std::move(b));
  }
  std::unique_ptr<WriteBehind> w(new WriteBehind(buffer_bytes, std::move(storage)));
  if (threaded) w->writer_ = std::thread([p = w.get()] { p->WriterLoop(); });
  return w;
}

WriteBehind::WriteBehind(size_t buffer_bytes, std::vector<PageBuffer> storage)
    : buffer_bytes_(buffer_bytes), storage_(std::move(storage)), batches_(storage_.size()) {
  for (size_t i = 0; i < storage_.size(); ++i) {
    batches_[i].data = storage_[i].data();
    batches_[i].capacity = buffer_bytes_;
    free_.push_back(&batches_[i]);
  }
}

WriteBehind::~WriteBehind() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

absl::Status WriteBehind::WriteBatch(const Batch& batch) {
  for (const Piece& piece : batch.pieces) {
    TFL_RETURN_IF_ERROR(pages_.Write(batch.fd, batch.path, batch.data + piece.buffer_offset,
                                     piece.size, piece.file_offset));
  }
  return absl::OkStatus();
}

absl::StatusOr<WriteBehind::Batch*> WriteBehind::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !free_.empty() || !error_.ok(); });
  if (!error_.ok()) return error_;
  Batch* batch = free_.front();
  free_.pop_front();
  batch->pieces.clear();
  return batch;
}

absl::Status WriteBehind::Submit(Batch* batch) {
  if (!writer_.joinable()) {
    absl::Status st = WriteBatch(*batch);
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(batch);
    if (!st.ok() && error_.ok()) error_ = st;
    return error_;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_.push_back(batch);
  }
  changed_.notify_all();
  return absl::OkStatus();
}

absl::Status WriteBehind::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return (queued_.empty() && !writing_) || !error_.ok(); });
  // After an error the output is abandoned (and the writer may still be busy): nothing more is
  // written. Otherwise the writer is idle, and the pages it holds are this thread's to write.
  if (!error_.ok()) return error_;
  error_ = pages_.Flush();
  return error_;
}

void WriteBehind::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return !queued_.empty() || stop_; });
    if (queued_.empty()) return;  // stopping
    Batch* batch = queued_.front();
    queued_.pop_front();
    writing_ = true;
    const bool skip = !error_.ok();  // after a failure nothing more is written
    lock.unlock();
    absl::Status st = skip ? absl::OkStatus() : WriteBatch(*batch);
    lock.lock();
    writing_ = false;
    if (!st.ok() && error_.ok()) error_ = st;
    free_.push_back(batch);
    changed_.notify_all();
  }
}

}  // namespace tflayout
