#include "lib/io/streamed_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "lib/io/inline_plan.h"
#include "lib/io/page_buffer.h"
#include "lib/io/tiled_permute.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {

namespace fs = std::filesystem;
using onnx::TensorProto;

namespace {
constexpr int64_t kAlign = 64;  // as SaveModel: aligned payloads allow typed access via mmap
}  // namespace

absl::Status WriteStreamed(onnx::ModelProto& model, const ExternalDataStore& store,
                           const std::string& path, const SaveOptions& options) {
  std::map<std::string, FileDescriptor> inputs;  // data files by canonical path
  auto input_fd = [&](const std::string& p) -> absl::StatusOr<int> {
    auto it = inputs.find(p);
    if (it == inputs.end()) {
      FileDescriptor fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) return ErrnoError("cannot open external data", p);
      it = inputs.emplace(p, std::move(fd)).first;
    }
    return it->second.get();
  };
  // One buffer for all rewritten tensors, grown to the largest: memory stays one tensor, and
  // its pages are faulted in once rather than once per tensor.
  PageBuffer buffer;
  // Reads a region into `buffer`, runs its scheduled transforms, and returns the bytes.
  auto read_transformed = [&](const ExternalRegion& region) -> absl::StatusOr<absl::string_view> {
    TFL_ASSIGN_OR_RETURN(int fd, input_fd(region.path));
    const size_t size = static_cast<size_t>(region.length);
    if (buffer.size() < size) {
      buffer = PageBuffer();
      TFL_ASSIGN_OR_RETURN(buffer, PageBuffer::Allocate(size));
    }
    TFL_RETURN_IF_ERROR(PreadAll(fd, buffer.data(), size, region.offset, region.path));
    TFL_RETURN_IF_ERROR(store.ApplyScheduled(
        region, MutableSlots{buffer.data(), region.element_size, region.count}));
    return absl::string_view(buffer.data(), size);
  };
  auto load_into_model = [&](TensorProto& t, const ExternalRegion& region) -> absl::Status {
    TFL_ASSIGN_OR_RETURN(absl::string_view bytes, read_transformed(region));
    t.clear_external_data();
    SetLoadedLocation(t, store.IsEmbedded(region));
    SetRawData(t, std::string(bytes));
    return absl::OkStatus();
  };

  // Appends a region's payload, transformed, at the current position of `out_fd`: untouched
  // ones are copied by the kernel, a permuted one moves tile by tile through `permuter` (written
  // behind: its bytes are in the file after permuter->Finish()), others go through `buffer`.
  std::unique_ptr<FilePermuter> permuter;
  auto write_payload = [&](const ExternalRegion& region, int out_fd,
                           const std::string& out_path) -> absl::Status {
    TFL_ASSIGN_OR_RETURN(int fd, input_fd(region.path));
    if (store.scheduled().count(region.key()) == 0) {
      return CopyRange(fd, region.path, region.offset, region.length, out_fd, out_path);
    }
    const std::optional<WeightStore::Permute> permute = store.SinglePermute(region.key());
    if (permute && permute->a * permute->b * permute->s == region.count) {
      if (permuter == nullptr) {
        TFL_ASSIGN_OR_RETURN(permuter,
                             FilePermuter::Create(TileBytes(), permute->options.num_threads));
      }
      const off_t at = ::lseek(out_fd, 0, SEEK_CUR);
      if (at < 0) return ErrnoError("seek failed", out_path);
      TFL_RETURN_IF_ERROR(permuter->Permute({fd, region.path, region.offset},
                                            {out_fd, out_path, at}, region.element_size,
                                            *permute));
      if (::lseek(out_fd, at + region.length, SEEK_SET) < 0) {
        return ErrnoError("seek failed", out_path);
      }
      return absl::OkStatus();
    }
    TFL_ASSIGN_OR_RETURN(absl::string_view bytes, read_transformed(region));
    return WriteAll(out_fd, bytes.data(), bytes.size(), out_path);
  };

  // The model file with every payload inline, piece by piece (see PlanInline).
  auto finish_permutes = [&]() -> absl::Status {
    return permuter == nullptr ? absl::OkStatus() : permuter->Finish();
  };
  auto write_inline = [&](const InlinePlan& plan) -> absl::Status {
    TFL_RETURN_IF_ERROR(CheckNotInput({CanonicalPath(path)}, options));
    TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out,
                         AtomicFile::Create(path, options.sync));
    TFL_RETURN_IF_ERROR(out->Reserve(0, plan.size));
    absl::Status written = absl::OkStatus();
    for (const InlinePiece& piece : plan.pieces) {
      written = out->WriteAll(piece.bytes.data(), piece.bytes.size());
      if (written.ok() && piece.region) written = write_payload(*piece.region, out->fd(), path);
      if (!written.ok()) break;
    }
    // Always: nothing may still be writing to the file when `out` removes it.
    const absl::Status finished = finish_permutes();
    TFL_RETURN_IF_ERROR(written);
    TFL_RETURN_IF_ERROR(finished);
    return out->Commit();
  };

  if (!options.use_external_data) {
    // The main graph's external initializers are streamed into the output; the rare others
    // (in subgraphs, attributes, functions) are read into the model first.
    std::unordered_set<const TensorProto*> main_initializers;
    for (const TensorProto& t : model.graph().initializer()) main_initializers.insert(&t);
    TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
      if (t.data_location() != TensorProto::EXTERNAL || main_initializers.count(&t) != 0) {
        return absl::OkStatus();
      }
      TFL_ASSIGN_OR_RETURN(ExternalRegion region, store.RegionOf(t));
      return load_into_model(t, region);
    }));
    TFL_ASSIGN_OR_RETURN(InlinePlan plan, PlanInline(model, store));
    if (plan.size <= kMaxProtobufBytes) return write_inline(plan);
    if (!options.external_data_over_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          path, ": model serializes to ", plan.size,
          " bytes, over protobuf's 2 GiB limit; save with external data"));
    }
  }

  const std::string data_name = options.external_file_name.empty()
                                    ? fs::path(path).filename().string() + ".data"
                                    : options.external_file_name;
  const std::string data_path = (fs::path(DirOf(path)) / data_name).string();
  TFL_RETURN_IF_ERROR(CheckNotInput({CanonicalPath(path), CanonicalPath(data_path)}, options));
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> data,
                       AtomicFile::Create(data_path, options.sync));
  int64_t offset = 0;
  // The same walk, order, threshold and alignment as SaveModel's externalization.
  const absl::Status written = ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
    std::optional<ExternalRegion> region;
    int64_t length = 0;
    if (t.data_location() == TensorProto::EXTERNAL) {
      TFL_ASSIGN_OR_RETURN(region, store.RegionOf(t));
      length = region->length;
      if (static_cast<size_t>(length) < options.external_threshold_bytes) {
        return load_into_model(t, *region);
      }
    } else {
      if (!t.has_raw_data() || t.raw_data().size() < options.external_threshold_bytes) {
        return absl::OkStatus();
      }
      length = static_cast<int64_t>(t.raw_data().size());
    }
    const int64_t padded = (offset + kAlign - 1) / kAlign * kAlign;
    if (padded > offset) {
      const std::string zeros(static_cast<size_t>(padded - offset), '\0');
      TFL_RETURN_IF_ERROR(WriteAll(data->fd(), zeros.data(), zeros.size(), data_path));
    }
    TFL_RETURN_IF_ERROR(data->Reserve(padded, length));
    if (!region) {
      TFL_RETURN_IF_ERROR(WriteAll(data->fd(), t.raw_data().data(), t.raw_data().size(), data_path));
    } else {
      TFL_RETURN_IF_ERROR(write_payload(*region, data->fd(), data_path));
    }
    SetRawData(t, std::string());  // clears typed fields, as a full load does
    t.clear_raw_data();
    SetExternalDataEntries(t, data_name, padded, length);
    offset = padded + length;
    return absl::OkStatus();
  });
  // Always: nothing may still be writing to the file when `data` removes it.
  const absl::Status finished = finish_permutes();
  TFL_RETURN_IF_ERROR(written);
  TFL_RETURN_IF_ERROR(finished);
  TFL_RETURN_IF_ERROR(data->Commit());
  SaveOptions model_options = options;
  model_options.use_external_data = false;
  absl::Status st = SaveModel(model, path, model_options);
  if (!st.ok()) ::unlink(data_path.c_str());  // no data file without its model
  return st;
}

}  // namespace tflayout
