#include "tflayout/model_io.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "lib/io/external_region.h"
#include "lib/io/file_util.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

// Reads an external tensor into raw_data, through the one validation path for external data.
absl::Status LoadExternalTensor(TensorProto& tensor, const std::string& base_dir,
                                std::vector<std::string>& files_read) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region,
                       ResolveExternalRegion(tensor, base_dir, kMaxProtobufBytes));
  TFL_RETURN_IF_ERROR(LoadExternalRegion(tensor, region));
  if (std::find(files_read.begin(), files_read.end(), region.path) == files_read.end()) {
    files_read.push_back(region.path);
  }
  return absl::OkStatus();
}

// Structural UTF-8 check (no overlongs, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

// Names must be valid UTF-8: protobuf's proto2 strings (onnx.proto) accept any bytes, but the
// annotation (proto3, stored as JSON) cannot carry them, so a node or tensor name would be
// silently mangled there (found by fuzz_pipeline). ONNX's Python API cannot load such models
// either. Checks every name the passes read or record; runs after the depth check.
absl::Status CheckName(absl::string_view name, absl::string_view what) {
  if (IsValidUtf8(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " name \"", absl::CHexEscape(name),
                                                 "\" is not valid UTF-8"));
}

absl::Status CheckNodeNames(const google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                            absl::string_view where);

absl::Status CheckGraphNames(const onnx::GraphProto& graph, absl::string_view where) {
  TFL_RETURN_IF_ERROR(CheckName(graph.name(), absl::StrCat(where, "graph")));
  for (const TensorProto& t : graph.initializer()) {
    TFL_RETURN_IF_ERROR(CheckName(t.name(), absl::StrCat(where, "initializer")));
  }
  for (const onnx::SparseTensorProto& t : graph.sparse_initializer()) {
    TFL_RETURN_IF_ERROR(CheckName(t.values().name(), absl::StrCat(where, "sparse initializer")));
  }
  for (const auto* list : {&graph.input(), &graph.output(), &graph.value_info()}) {
    for (const onnx::ValueInfoProto& vi : *list) {
      TFL_RETURN_IF_ERROR(CheckName(vi.name(), absl::StrCat(where, "value")));
    }
  }
  return CheckNodeNames(graph.node(), where);
}

absl::Status CheckNodeNames(const google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                            absl::string_view where) {
  for (const onnx::NodeProto& node : nodes) {
    TFL_RETURN_IF_ERROR(CheckName(node.name(), absl::StrCat(where, "node")));
    const std::string label = absl::StrCat(where, "node '", node.name(), "'");
    TFL_RETURN_IF_ERROR(CheckName(node.op_type(), absl::StrCat(label, ": op_type")));
    TFL_RETURN_IF_ERROR(CheckName(node.domain(), absl::StrCat(label, ": domain")));
    for (const std::string& in : node.input()) {
      TFL_RETURN_IF_ERROR(CheckName(in, absl::StrCat(label, ": input")));
    }
    for (const std::string& out : node.output()) {
      TFL_RETURN_IF_ERROR(CheckName(out, absl::StrCat(label, ": output")));
    }
    for (const onnx::AttributeProto& attr : node.attribute()) {
      TFL_RETURN_IF_ERROR(CheckName(attr.name(), absl::StrCat(label, ": attribute")));
      if (attr.has_t()) {
        TFL_RETURN_IF_ERROR(CheckName(attr.t().name(), absl::StrCat(label, ": tensor")));
      }
      const std::string sub = absl::StrCat(label, "/", attr.name(), ": ");
      if (attr.has_g()) TFL_RETURN_IF_ERROR(CheckGraphNames(attr.g(), sub));
      for (const onnx::GraphProto& g : attr.graphs()) TFL_RETURN_IF_ERROR(CheckGraphNames(g, sub));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckModelNames(const onnx::ModelProto& model) {
  TFL_RETURN_IF_ERROR(CheckGraphNames(model.graph(), ""));
  for (const onnx::FunctionProto& f : model.functions()) {
    TFL_RETURN_IF_ERROR(CheckName(f.name(), "function"));
    TFL_RETURN_IF_ERROR(CheckName(f.domain(), absl::StrCat("function '", f.name(), "': domain")));
    TFL_RETURN_IF_ERROR(CheckNodeNames(f.node(), absl::StrCat("function '", f.name(), "': ")));
  }
  return absl::OkStatus();
}

absl::Status FinishLoad(LoadedModel& loaded, const std::string& display_name,
                        const LoadOptions& options) {
  if (!loaded.model.has_graph()) {
    return absl::InvalidArgumentError(absl::StrCat(display_name, ": model has no graph"));
  }
  if (absl::Status st = CheckGraphDepth(loaded.model, options.max_graph_depth); !st.ok()) {
    return WithContext(st, display_name);
  }
  if (absl::Status st = CheckModelNames(loaded.model); !st.ok()) {
    return WithContext(st, display_name);
  }
  if (!options.load_external_data) return absl::OkStatus();
  absl::Status st = ForEachTensor(loaded.model, [&](TensorProto& t) -> absl::Status {
    if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
    if (loaded.base_dir.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", t.name(), "' uses external data but the model has no folder to resolve it"));
    }
    return LoadExternalTensor(t, loaded.base_dir, loaded.external_files);
  });
  return WithContext(st, display_name);
}

// Protobuf refuses messages nested deeper than its recursion limit (100 by default). One level
// of subgraph costs three (GraphProto > NodeProto > AttributeProto > GraphProto), so the default
// limit would reject models at about 32 levels of subgraphs, long before max_graph_depth; and
// the parse error would not say why. Allow max_graph_depth + 1 levels (so that CheckGraphDepth
// reports the depth by name) plus room for nested types, capped to keep the stack bounded.
int RecursionLimitFor(const LoadOptions& options) {
  const int64_t depth = std::clamp<int64_t>(options.max_graph_depth, 0, 1024);
  return static_cast<int>(3 * (depth + 1) + 64);
}

absl::Status ParseFailure(const std::string& display_name, const LoadOptions& options) {
  return absl::InvalidArgumentError(absl::StrCat(
      display_name,
      ": not a valid ONNX model (protobuf parse failed: truncated, not a ModelProto, or "
      "nested deeper than ", RecursionLimitFor(options), " messages / ",
      options.max_graph_depth, " graph levels)"));
}

// Parses a whole message from `input` with the recursion limit above.
bool ParseWithLimits(google::protobuf::io::ZeroCopyInputStream* stream,
                     const LoadOptions& options, onnx::ModelProto& model) {
  google::protobuf::io::CodedInputStream coded(stream);
  coded.SetRecursionLimit(RecursionLimitFor(options));
  return model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}


}  // namespace

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, const LoadOptions& options) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open model", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat model", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  if (st.st_size == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": file is empty"));
  if (st.st_size > kMaxProtobufBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": file is ", st.st_size,
        " bytes; a protobuf message cannot exceed 2 GiB (store weights as external data)"));
  }
  LoadedModel loaded;
  loaded.path = path;
  loaded.base_dir = DirOf(path);
  {
    google::protobuf::io::FileInputStream stream(fd.get(), 1 << 20);
    if (!ParseWithLimits(&stream, options, loaded.model)) return ParseFailure(path, options);
  }
  TFL_RETURN_IF_ERROR(FinishLoad(loaded, path, options));
  return loaded;
}

absl::StatusOr<LoadedModel> ParseModel(absl::string_view bytes, const std::string& base_dir,
                                       const std::string& display_name,
                                       const LoadOptions& options) {
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat(display_name, ": empty input"));
  if (bytes.size() > static_cast<size_t>(kMaxProtobufBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(display_name, ": input over 2 GiB cannot be one protobuf message"));
  }
  LoadedModel loaded;
  loaded.path = display_name;
  loaded.base_dir = base_dir;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  if (!ParseWithLimits(&stream, options, loaded.model)) return ParseFailure(display_name, options);
  TFL_RETURN_IF_ERROR(FinishLoad(loaded, display_name, options));
  return loaded;
}

absl::Status CheckNotInput(const std::vector<std::string>& targets, const SaveOptions& options) {
  for (const std::string& target : targets) {
    for (const std::string& guarded : options.protected_paths) {
      if (CanonicalPath(guarded) == target) {
        return absl::InvalidArgumentError(absl::StrCat(
            target, ": refusing to overwrite '", guarded, "', which is part of the input"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeModel(const onnx::ModelProto& model) {
  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(kMaxProtobufBytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "model serializes to ", size, " bytes, over protobuf's 2 GiB limit; use external data"));
  }
  std::string out;
  if (!model.SerializeToString(&out)) return absl::InternalError("model serialization failed");
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(path));
  TFL_RETURN_IF_ERROR(file->Reserve(0, static_cast<int64_t>(bytes.size())));
  TFL_RETURN_IF_ERROR(file->WriteAll(bytes.data(), bytes.size()));
  return file->Commit();
}

namespace {

// A protobuf output stream onto a file descriptor: small fields go through a 1 MiB buffer,
// large `bytes` fields (raw_data) are written from the tensor's own memory (protobuf's
// aliasing). protobuf's FileOutputStream wrote a 1 GiB model as 131k write calls of 8 KiB,
// after one extra copy of every byte.
class FdSink : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  FdSink(int fd, std::string path) : fd_(fd), path_(std::move(path)), buffer_(kBufferBytes) {}

  bool Next(void** data, int* size) override {
    if (used_ == buffer_.size() && !Flush()) return false;
    *data = buffer_.data() + used_;
    *size = static_cast<int>(buffer_.size() - used_);
    used_ = buffer_.size();
    return true;
  }
  void BackUp(int count) override { used_ -= static_cast<size_t>(count); }
  int64_t ByteCount() const override { return written_ + static_cast<int64_t>(used_); }
  bool AllowsAliasing() const override { return true; }
  bool WriteAliasedRaw(const void* data, int size) override {
    if (!Flush()) return false;
    status_ = WriteAll(fd_, data, static_cast<size_t>(size), path_);
    if (status_.ok()) written_ += size;
    return status_.ok();
  }
  // Writes out the buffered bytes; false (see status()) once a write has failed.
  bool Flush() {
    if (!status_.ok()) return false;
    if (used_ == 0) return true;
    status_ = WriteAll(fd_, buffer_.data(), used_, path_);
    if (!status_.ok()) return false;
    written_ += static_cast<int64_t>(used_);
    used_ = 0;
    return true;
  }
  const absl::Status& status() const { return status_; }

 private:
  static constexpr size_t kBufferBytes = size_t{1} << 20;
  int fd_;
  std::string path_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  int64_t written_ = 0;
  absl::Status status_;
};

// Moves large raw_data payloads into one data file and points the tensors at it; undoes the
// change on destruction so the caller's model comes back as it was.
class Externalizer {
 public:
  ~Externalizer() {
    for (auto& [tensor, bytes] : moved_) {
      tensor->clear_external_data();
      tensor->clear_data_location();
      tensor->set_raw_data(std::move(bytes));
    }
  }

  absl::Status Run(onnx::ModelProto& model, AtomicFile& data_file, const std::string& location,
                   size_t threshold) {
    int64_t offset = 0;
    return ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
      if (!t.has_raw_data() || t.raw_data().size() < threshold) return absl::OkStatus();
      constexpr int64_t kAlign = 64;  // aligned payloads allow typed access through mmap
      const int64_t padded = (offset + kAlign - 1) / kAlign * kAlign;
      if (padded > offset) {
        const std::string zeros(static_cast<size_t>(padded - offset), '\0');
        TFL_RETURN_IF_ERROR(data_file.WriteAll(zeros.data(), zeros.size()));
      }
      TFL_RETURN_IF_ERROR(data_file.Reserve(padded, static_cast<int64_t>(t.raw_data().size())));
      TFL_RETURN_IF_ERROR(data_file.WriteAll(t.raw_data().data(), t.raw_data().size()));
      const int64_t length = static_cast<int64_t>(t.raw_data().size());
      moved_.emplace_back(&t, std::move(*t.mutable_raw_data()));
      t.clear_raw_data();
      SetExternalDataEntries(t, location, padded, length);
      offset = padded + length;
      return absl::OkStatus();
    });
  }

 private:
  std::vector<std::pair<TensorProto*, std::string>> moved_;
};

}  // namespace

absl::Status SaveModel(onnx::ModelProto& model, const std::string& path,
                       const SaveOptions& options) {
  if (!options.use_external_data && options.external_data_over_limit &&
      model.ByteSizeLong() > static_cast<size_t>(kMaxProtobufBytes)) {
    SaveOptions external = options;
    external.use_external_data = true;
    return SaveModel(model, path, external);
  }
  const std::string canonical = CanonicalPath(path);
  std::vector<std::string> targets = {canonical};
  std::string data_name;
  if (options.use_external_data) {
    data_name = options.external_file_name.empty()
                    ? fs::path(path).filename().string() + ".data"
                    : options.external_file_name;
    targets.push_back(CanonicalPath((fs::path(DirOf(path)) / data_name).string()));
  }
  TFL_RETURN_IF_ERROR(CheckNotInput(targets, options));

  std::unique_ptr<AtomicFile> data_file;
  Externalizer externalizer;  // restores the model when this function returns
  if (options.use_external_data) {
    TFL_ASSIGN_OR_RETURN(data_file, AtomicFile::Create(targets[1], options.sync));
    TFL_RETURN_IF_ERROR(
        externalizer.Run(model, *data_file, data_name, options.external_threshold_bytes));
  }
  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(kMaxProtobufBytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ": model serializes to ", size,
        " bytes, over protobuf's 2 GiB limit; save with external data"));
  }
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> model_file,
                       AtomicFile::Create(path, options.sync));
  TFL_RETURN_IF_ERROR(model_file->Reserve(0, static_cast<int64_t>(size)));
  {
    FdSink sink(model_file->fd(), path);
    bool serialized;
    {
      google::protobuf::io::CodedOutputStream coded(&sink);
      coded.EnableAliasing(true);
      serialized = model.SerializeToCodedStream(&coded);
    }
    if (!sink.Flush() || !serialized) {
      return sink.status().ok() ? absl::InternalError(absl::StrCat(path, ": serialization failed"))
                                : sink.status();
    }
  }
  // Data first: a model file never points at a data file that is not there yet.
  if (data_file) TFL_RETURN_IF_ERROR(data_file->Commit());
  return model_file->Commit();
}

}  // namespace tflayout
