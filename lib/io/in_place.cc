#include "lib/io/in_place.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "lib/io/hasher.h"
#include "lib/io/journaled_permute.h"
#include "lib/io/tiled_permute.h"
#include "tflayout/graph_view.h"
#include "tflayout/model_io.h"
#include "tflayout/status.h"

namespace tflayout {

namespace fs = std::filesystem;
using onnx::TensorProto;

std::string InPlaceJournalPath(const std::string& model_path) {
  return model_path + ".tflayout-journal";
}

InPlaceRewrite::~InPlaceRewrite() = default;

absl::StatusOr<std::unique_ptr<InPlaceRewrite>> InPlaceRewrite::Begin(
    const std::string& model_path, const std::string& fingerprint) {
  auto rewrite = std::unique_ptr<InPlaceRewrite>(new InPlaceRewrite(InPlaceJournalPath(model_path)));
  rewrite->model_path_ = model_path;
  rewrite->journal_path_ = InPlaceJournalPath(model_path);
  rewrite->fingerprint_ = fingerprint;
  // Temporary files a killed run left (ours by name: ".<model>.tmp.*" is how the model file
  // is replaced, ".<model>.tflayout-journal.tmp.*" how the journal is created).
  const std::string name = fs::path(model_path).filename().string();
  const std::string journal_tmp = "." + name + ".tflayout-journal.tmp.";
  const std::string model_tmp = "." + name + ".tmp.";
  const bool has_journal = fs::exists(fs::symlink_status(rewrite->journal_path_));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(DirOf(model_path), ec)) {
    const std::string f = entry.path().filename().string();
    if (f.rfind(journal_tmp, 0) == 0 || (has_journal && f.rfind(model_tmp, 0) == 0)) {
      fs::remove(entry.path(), ec);
    }
  }
  struct stat st {};
  if (::lstat(rewrite->journal_path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return rewrite;
    return ErrnoError("cannot stat journal", rewrite->journal_path_);
  }
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<InPlaceJournal> journal, InPlaceJournal::Open(rewrite->journal_path_));
  TFL_ASSIGN_OR_RETURN(auto model_id, HashFile(model_path));
  if (journal->commit() && *journal->commit() == model_id) {
    // The new model file is in place: only the journal was left.
    TFL_RETURN_IF_ERROR(rewrite->steps_.Remove());
    TFL_RETURN_IF_ERROR(journal->Remove());
    rewrite->finished_ = true;
    return rewrite;
  }
  if (model_id.first != journal->model_size() || model_id.second != journal->model_hash()) {
    return absl::FailedPreconditionError(absl::StrCat(
        rewrite->journal_path_, ": journal of an interrupted --in-place run, but '", model_path,
        "' is neither the model it started from nor the one it was writing; the data file may "
        "be partly rewritten. Restore the model from a backup, then remove the journal"));
  }
  if (journal->fingerprint() != fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        rewrite->journal_path_, ": an interrupted --in-place run used another pipeline ('",
        journal->fingerprint(), "'); rerun it with the same --passes and plugins to finish"));
  }
  TFL_RETURN_IF_ERROR(journal->Truncate());
  if (journal->pending()) TFL_RETURN_IF_ERROR(journal->RollBack(*journal->pending()));
  TFL_ASSIGN_OR_RETURN(std::optional<StepJournal::Record> step, rewrite->steps_.ReadLast());
  if (step && journal->done().count(step->key) == 0) {
    // A tensor rewritten step by step: undo its last step; the run continues from there.
    const std::string& data_path = std::get<0>(step->key);
    FileDescriptor data(::open(data_path.c_str(), O_RDWR | O_CLOEXEC));
    if (data.get() < 0) return ErrnoError("cannot open external data", data_path);
    TFL_RETURN_IF_ERROR(UndoJournaledStep(step->payload, data.get(), data_path));
    InPlaceCrashPoint();
    rewrite->resume_step_ = std::make_pair(step->key, std::move(step->payload));
  }
  rewrite->done_ = journal->done();
  rewrite->resuming_ = true;
  rewrite->journal_ = std::move(journal);
  return rewrite;
}

absl::Status InPlaceRewrite::Finish(const ExternalDataStore& store, onnx::ModelProto& model) {
  TFL_ASSIGN_OR_RETURN(std::string bytes, SerializeModel(model));
  for (const ExternalRegion::Key& key : done_) {
    if (store.scheduled().count(key) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          journal_path_, ": the interrupted run rewrote a tensor at offset ", std::get<1>(key),
          " of '", std::get<0>(key), "' that this run does not rewrite"));
    }
  }
  // Regions by file and offset; the stored geometry comes from the model's tensors.
  std::vector<ExternalRegion> todo;
  {
    std::set<ExternalRegion::Key> seen;
    TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
      if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
      TFL_ASSIGN_OR_RETURN(ExternalRegion region, store.RegionOf(t));
      const auto key = region.key();
      if (store.scheduled().count(key) == 0 || done_.count(key) != 0 || region.length == 0 ||
          !seen.insert(key).second) {
        return absl::OkStatus();
      }
      todo.push_back(std::move(region));
      return absl::OkStatus();
    }));
    std::sort(todo.begin(), todo.end(),
              [](const ExternalRegion& x, const ExternalRegion& y) { return x.key() < y.key(); });
  }

  if (!journal_ && todo.empty()) return WriteFileAtomically(model_path_, bytes);
  if (!journal_) {
    TFL_ASSIGN_OR_RETURN(auto model_id, HashFile(model_path_));
    TFL_RETURN_IF_ERROR(steps_.Remove());  // step records belong to a journal
    TFL_ASSIGN_OR_RETURN(journal_, InPlaceJournal::Create(journal_path_, model_id.first,
                                                   model_id.second, fingerprint_));
    InPlaceCrashPoint();
  }
  std::map<std::string, FileDescriptor> files;
  const long page = ::sysconf(_SC_PAGESIZE);
  for (const ExternalRegion& region : todo) {
    auto it = files.find(region.path);
    if (it == files.end()) {
      FileDescriptor fd(::open(region.path.c_str(), O_RDWR | O_CLOEXEC));
      if (fd.get() < 0) return ErrnoError("cannot open external data for writing", region.path);
      it = files.emplace(region.path, std::move(fd)).first;
    }
    const int fd = it->second.get();
    const bool resumed = resume_step_ && resume_step_->first == region.key();
    const std::optional<WeightStore::Permute> permute = store.SinglePermute(region.key());
    if (resumed || (permute && static_cast<size_t>(region.length) > TileBytes() &&
                    permute->a * permute->b * permute->s == region.count)) {
      if (!permute) {
        return absl::FailedPreconditionError(absl::StrCat(
            journal_path_, ": the interrupted run permuted a tensor at offset ", region.offset,
            " of '", region.path, "' that this run rewrites otherwise"));
      }
      // Step by step, journaled per step (lib/io/journaled_permute.h). A failure leaves the
      // journal: rerunning the command continues from the last step.
      TFL_RETURN_IF_ERROR(PermuteRegionJournaled(region, fd, *permute, TileBytes(),
                                                 resumed ? resume_step_->second : "",
                                                 steps_));
      TFL_RETURN_IF_ERROR(
          journal_->AppendSimple(kDone, region.path, region.offset, region.length));
      InPlaceCrashPoint();
      TFL_RETURN_IF_ERROR(steps_.Clear());
      continue;
    }
    TFL_RETURN_IF_ERROR(journal_->AppendBegin(region, fd));
    InPlaceCrashPoint();
    const int64_t map_offset = region.offset / page * page;
    const size_t delta = static_cast<size_t>(region.offset - map_offset);
    const size_t map_size = delta + static_cast<size_t>(region.length);
    void* map = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                       static_cast<off_t>(map_offset));
    if (map == MAP_FAILED) return ErrnoError("cannot map external data", region.path);
    absl::Status st = store.ApplyScheduled(
        region, MutableSlots{static_cast<char*>(map) + delta, region.element_size, region.count});
    if (st.ok()) {
      InPlaceCrashPoint();
      if (::msync(map, map_size, MS_SYNC) != 0) st = ErrnoError("msync failed", region.path);
    }
    ::munmap(map, map_size);
    if (!st.ok()) {
      // Put the original bytes back so that the input stays as it was.
      absl::Status undo = journal_->RollBack(*journal_->pending());
      return undo.ok() ? st : WithContext(st, absl::StrCat("rollback failed too: ", undo.message()));
    }
    InPlaceCrashPoint();
    TFL_RETURN_IF_ERROR(journal_->AppendSimple(kDone, region.path, region.offset, region.length));
    journal_->DropLastBytes();
    InPlaceCrashPoint();
  }
  TFL_RETURN_IF_ERROR(journal_->AppendSimple(kCommit, "", static_cast<int64_t>(bytes.size()),
                                             static_cast<int64_t>(HashBytes(bytes))));
  InPlaceCrashPoint();
  TFL_RETURN_IF_ERROR(WriteFileAtomically(model_path_, bytes));
  SyncDir(DirOf(model_path_));
  InPlaceCrashPoint();
  TFL_RETURN_IF_ERROR(steps_.Remove());
  return journal_->Remove();
}

}  // namespace tflayout
