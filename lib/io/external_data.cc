#include "lib/io/external_data.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"
#include "tflayout/conv_transpose.h"
#include "lib/io/file_util.h"
#include "tflayout/graph_view.h"
#include "tflayout/model_io.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"
#include "lib/io/wire_format.h"

namespace tflayout {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

constexpr size_t kChunkBytes = size_t{4} << 20;
constexpr int64_t kAlign = 64;  // as SaveModel: aligned payloads allow typed access via mmap

// A heap-free buffer: anonymous pages returned to the system when it goes, so a rewritten
// tensor's memory does not linger in malloc's arenas and peak RSS stays one tensor.
class PageBuffer {
 public:
  static absl::StatusOr<PageBuffer> Allocate(size_t size) {
    PageBuffer b;
    b.size_ = size;
    if (size == 0) return b;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", size, " bytes"));
    }
    b.data_ = static_cast<char*>(p);
    return b;
  }
  PageBuffer() = default;
  PageBuffer(PageBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  PageBuffer& operator=(PageBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~PageBuffer() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

// 64-bit hash for integrity checks of journal records and model files (not cryptographic).
class Hasher {
 public:
  void Update(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    total_ += size;
    while (size > 0 && tail_len_ > 0 && tail_len_ < 8) {
      tail_[tail_len_++] = *p++;
      --size;
      if (tail_len_ == 8) {
        uint64_t w;
        std::memcpy(&w, tail_, 8);
        Mix(w);
        tail_len_ = 0;
      }
    }
    while (size >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      Mix(w);
      p += 8;
      size -= 8;
    }
    while (size > 0) {
      tail_[tail_len_++] = *p++;
      --size;
    }
  }
  uint64_t Final() const {
    uint64_t h = h_;
    uint64_t w = 0;
    std::memcpy(&w, tail_, tail_len_);
    h = Step(h, w ^ (static_cast<uint64_t>(tail_len_) << 56));
    h ^= total_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  static uint64_t Step(uint64_t h, uint64_t w) {
    w *= 0x87c37b91114253d5ULL;
    w = (w << 31) | (w >> 33);
    w *= 0x4cf5ad432745937fULL;
    h ^= w;
    h = (h << 27) | (h >> 37);
    return h * 5 + 0x52dce729;
  }
  void Mix(uint64_t w) { h_ = Step(h_, w); }
  uint64_t h_ = 0x9E3779B97F4A7C15ULL;
  uint64_t total_ = 0;
  unsigned char tail_[8] = {};
  size_t tail_len_ = 0;
};

uint64_t HashBytes(absl::string_view bytes) {
  Hasher h;
  h.Update(bytes.data(), bytes.size());
  return h.Final();
}

absl::StatusOr<std::pair<int64_t, uint64_t>> HashFile(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open", path);
  std::string buf(kChunkBytes, '\0');
  Hasher h;
  int64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read failed", path);
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += n;
  }
  return std::make_pair(total, h.Final());
}

// Copies `length` bytes from in_fd at `offset` to the current position of out_fd, in the
// kernel where it can (copy_file_range), else through a bounded buffer.
absl::Status CopyRange(int in_fd, const std::string& in_path, int64_t offset, int64_t length,
                       int out_fd, const std::string& out_path) {
  loff_t in_off = offset;
  int64_t left = length;
  while (left > 0) {
    const ssize_t n = ::copy_file_range(in_fd, &in_off, out_fd, nullptr,
                                        static_cast<size_t>(std::min<int64_t>(left, 1 << 30)), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // unsupported here, or EOF: finish below
    left -= n;
  }
  if (left == 0) return absl::OkStatus();
  std::string buf(static_cast<size_t>(std::min<int64_t>(left, kChunkBytes)), '\0');
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(left, buf.size()));
    TFL_RETURN_IF_ERROR(PreadAll(in_fd, buf.data(), n, in_off, in_path));
    TFL_RETURN_IF_ERROR(WriteAll(out_fd, buf.data(), n, out_path));
    in_off += static_cast<loff_t>(n);
    left -= static_cast<int64_t>(n);
  }
  return absl::OkStatus();
}

std::atomic<int64_t> g_crash_steps{0};

}  // namespace

void SetLoadedLocation(TensorProto& tensor, bool embedded) {
  if (embedded) {
    tensor.clear_data_location();
  } else {
    tensor.set_data_location(TensorProto::DEFAULT);
  }
}

namespace {

// The output of WriteStreamed without external data, as a sequence of serialized bytes, each
// followed by nothing or by one external tensor's (transformed) payload. The pieces are cut so
// that the file is byte for byte what protobuf writes for the model with every payload loaded:
// the graph (field 7) goes after the model's known fields numbered below 7, initializers
// (5) after the graph's known fields below 5, raw_data (9) after the tensor's below 9.
struct InlinePiece {
  std::string bytes;
  std::optional<ExternalRegion> region;
};
struct InlinePlan {
  std::vector<InlinePiece> pieces;
  int64_t size = 0;
};

// Bytes of `message`'s serialization that come before a field numbered `number` would: its
// known fields numbered below `number`, since protobuf writes known fields in field-number
// order and unknown ones (which can carry any number) after all of them.
size_t BytesBeforeField(const google::protobuf::Message& message, uint32_t number) {
  std::unique_ptr<google::protobuf::Message> prefix(message.New());
  prefix->CopyFrom(message);
  const google::protobuf::Reflection* reflection = prefix->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*prefix, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (static_cast<uint32_t>(field->number()) >= number) reflection->ClearField(prefix.get(), field);
  }
  reflection->MutableUnknownFields(prefix.get())->Clear();
  return prefix->ByteSizeLong();
}

absl::StatusOr<InlinePlan> PlanInline(onnx::ModelProto& model, const ExternalDataStore& store) {
  constexpr uint32_t kGraph = 7, kInitializer = 5, kRawData = 9;
  // The model without its graph, the graph without its initializers, and where those go.
  std::string model_rest, graph_rest;
  size_t graph_at = 0, inits_at = 0;
  {
    std::unique_ptr<onnx::GraphProto> graph(model.release_graph());
    model_rest = model.SerializeAsString();
    graph_at = BytesBeforeField(model, kGraph);
    google::protobuf::RepeatedPtrField<TensorProto> inits;
    inits.Swap(graph->mutable_initializer());
    graph_rest = graph->SerializeAsString();
    inits_at = BytesBeforeField(*graph, kInitializer);
    inits.Swap(graph->mutable_initializer());
    model.set_allocated_graph(graph.release());
  }
  // Each initializer: serialized without payload, plus where its raw_data goes.
  struct Init {
    std::string bytes;
    size_t raw_at = 0;
    std::optional<ExternalRegion> region;
    int64_t size() const {
      const int64_t payload = region ? region->length : 0;
      return static_cast<int64_t>(bytes.size()) + (region ? wire::FieldSize(kRawData, payload) : 0);
    }
  };
  std::vector<Init> inits;
  int64_t graph_size = static_cast<int64_t>(graph_rest.size());
  for (const TensorProto& t : model.graph().initializer()) {
    Init init;
    if (t.data_location() == TensorProto::EXTERNAL) {
      TFL_ASSIGN_OR_RETURN(init.region, store.RegionOf(t));
      // As the tensor is after a full load: no typed fields, raw_data in place of the
      // external entries (an external tensor may carry an empty raw_data; not written twice).
      TensorProto bare = t;
      bare.clear_external_data();
      SetLoadedLocation(bare, store.IsEmbedded(*init.region));
      SetRawData(bare, std::string());
      bare.clear_raw_data();
      init.bytes = bare.SerializeAsString();
      init.raw_at = BytesBeforeField(bare, kRawData);
    } else {
      init.bytes = t.SerializeAsString();
    }
    graph_size += wire::FieldSize(kInitializer, init.size());
    inits.push_back(std::move(init));
  }

  InlinePlan plan;
  plan.pieces.emplace_back();
  auto text = [&]() -> std::string& { return plan.pieces.back().bytes; };
  if (!model.has_graph()) graph_at = model_rest.size();
  text().append(model_rest, 0, graph_at);
  if (model.has_graph()) {
    wire::PutHeader(kGraph, static_cast<uint64_t>(graph_size), text());
    text().append(graph_rest, 0, inits_at);
    for (Init& init : inits) {
      wire::PutHeader(kInitializer, static_cast<uint64_t>(init.size()), text());
      if (!init.region) {
        text() += init.bytes;
        continue;
      }
      text().append(init.bytes, 0, init.raw_at);
      wire::PutHeader(kRawData, static_cast<uint64_t>(init.region->length), text());
      plan.pieces.back().region = std::move(init.region);
      plan.pieces.emplace_back();
      text().append(init.bytes, init.raw_at, std::string::npos);
    }
    text().append(graph_rest, inits_at, std::string::npos);
  }
  text().append(model_rest, graph_at, std::string::npos);
  for (const InlinePiece& piece : plan.pieces) {
    plan.size += static_cast<int64_t>(piece.bytes.size());
    if (piece.region) plan.size += piece.region->length;
  }
  return plan;
}

}  // namespace

int64_t InPlaceCrashPoint() {
  static const int64_t crash_at = [] {
    const char* v = std::getenv("TFLAYOUT_TEST_CRASH_AT");
    return v == nullptr || *v == '\0' ? int64_t{-1} : std::strtoll(v, nullptr, 10);
  }();
  const int64_t step = g_crash_steps.fetch_add(1);
  if (step == crash_at) ::raise(SIGKILL);
  return step + 1;
}

// ---- validation -------------------------------------------------------------------------------

absl::StatusOr<ExternalRegion> ResolveExternalRegion(const TensorProto& tensor,
                                                    const std::string& base_dir) {
  const std::string label = absl::StrCat("tensor '", tensor.name(), "'");
  if (base_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " uses external data but the model has no folder to resolve it"));
  }
  TFL_ASSIGN_OR_RETURN(ExternalRef ref, ParseExternalRef(tensor));
  auto path_or = ResolveExternalLocation(base_dir, ref.location);
  if (!path_or.ok()) return WithContext(path_or.status(), label);
  TFL_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(tensor));
  const size_t elem = RawElementSize(tensor.data_type());
  if (elem == 0) {
    return absl::UnimplementedError(absl::StrCat(label, ": external data of element type ",
                                                 DataTypeName(tensor.data_type())));
  }
  if (count > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(elem)) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": byte size overflows"));
  }
  const int64_t expected = count * static_cast<int64_t>(elem);
  struct stat st {};
  if (::stat(path_or->c_str(), &st) != 0) {
    return WithContext(ErrnoError("cannot open external data", *path_or), label);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": external data '", ref.location, "' is not a regular file"));
  }
  const int64_t length = ref.length >= 0 ? ref.length : st.st_size - ref.offset;
  if (ref.offset > st.st_size || length > st.st_size - ref.offset) {
    return absl::OutOfRangeError(absl::StrCat(
        label, ": external data offset ", ref.offset, " + length ", length,
        " runs past the end of '", ref.location, "' (", st.st_size, " bytes)"));
  }
  if (length != expected) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": external data length ", length,
                                                   " disagrees with dims (", expected,
                                                   " bytes)"));
  }
  ExternalRegion region;
  region.path = *path_or;
  region.location = ref.location;
  region.offset = ref.offset;
  region.length = length;
  region.element_size = elem;
  region.count = count;
  return region;
}

absl::Status LoadExternalRegion(TensorProto& tensor, const ExternalRegion& region,
                                bool embedded) {
  FileDescriptor fd(::open(region.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open external data", region.path);
  std::string bytes(static_cast<size_t>(region.length), '\0');
  TFL_RETURN_IF_ERROR(PreadAll(fd.get(), bytes.data(), bytes.size(), region.offset, region.path));
  tensor.clear_external_data();
  SetLoadedLocation(tensor, embedded);
  SetRawData(tensor, std::move(bytes));
  return absl::OkStatus();
}

// ---- ExternalDataStore ------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ExternalDataStore>> ExternalDataStore::Create(
    onnx::ModelProto& model, const std::string& base_dir) {
  auto store = std::unique_ptr<ExternalDataStore>(new ExternalDataStore(base_dir));
  std::map<ExternalRegion::Key, std::string> names;
  TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
    if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
    TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(t, base_dir));
    const auto key = region.key();
    if (store->regions_.count(key) != 0 && region.length > 0 &&
        store->overlap_message_.empty()) {
      store->overlap_message_ = absl::StrCat("tensors '", names[key], "' and '", t.name(),
                                             "' share their external data bytes");
    }
    names.emplace(key, t.name());
    store->regions_.emplace(key, std::move(region));
    return absl::OkStatus();
  }));
  // Partial overlaps: regions of one file in offset order.
  const ExternalRegion* previous = nullptr;
  for (const auto& [key, region] : store->regions_) {
    if (region.length == 0) continue;
    if (previous != nullptr && previous->path == region.path &&
        previous->offset + previous->length > region.offset && store->overlap_message_.empty()) {
      store->overlap_message_ =
          absl::StrCat("tensors '", names[previous->key()], "' and '", names[key],
                       "' overlap in '", region.location, "'");
    }
    previous = &region;
  }
  return store;
}

std::vector<std::string> ExternalDataStore::files() const {
  std::vector<std::string> out;
  for (const auto& [key, region] : regions_) {
    if (std::find(out.begin(), out.end(), region.path) == out.end()) out.push_back(region.path);
  }
  return out;
}

absl::Status ExternalDataStore::PreloadTensorsPassesRead(onnx::ModelProto& model) {
  constexpr int64_t kTinyElements = 64;  // InferValueShapes keeps payloads up to this size
  std::vector<TensorProto*> wanted;
  TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
    if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
    auto count = CheckedElementCount(t);
    if (count.ok() && *count <= kTinyElements) wanted.push_back(&t);
    return absl::OkStatus();
  }));
  GraphView view(model);
  for (const auto& info : view.graphs()) {
    for (const onnx::NodeProto& node : info->graph->node()) {
      if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || node.input(1).empty()) continue;
      bool dilated = false;
      for (const onnx::AttributeProto& attr : node.attribute()) {
        if (attr.name() != "dilations") continue;
        for (int64_t d : attr.ints()) dilated |= d != 1;
      }
      if (!dilated) continue;
      auto constant = FindConstant(view, node.input(1));
      if (constant.ok() && constant->tensor->data_location() == TensorProto::EXTERNAL) {
        wanted.push_back(constant->tensor);
      }
    }
  }
  for (TensorProto* t : wanted) {
    if (t->data_location() != TensorProto::EXTERNAL) continue;  // listed twice
    TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(*t, base_dir_));
    TFL_RETURN_IF_ERROR(LoadExternalRegion(*t, region, IsEmbedded(region)));
  }
  return absl::OkStatus();
}

absl::StatusOr<MutableSlots> ExternalDataStore::Describe(const TensorProto& tensor) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  return MutableSlots{nullptr, region.element_size, region.count};
}

absl::Status ExternalDataStore::Schedule(const TensorProto& tensor, Transform transform) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  scheduled_[region.key()].push_back(std::move(transform));
  return absl::OkStatus();
}

absl::Status ExternalDataStore::ApplyScheduled(const ExternalRegion& region,
                                               const MutableSlots& slots) const {
  auto it = scheduled_.find(region.key());
  if (it == scheduled_.end()) return absl::OkStatus();
  for (const Transform& transform : it->second) TFL_RETURN_IF_ERROR(transform(slots));
  return absl::OkStatus();
}

// ---- streaming writer -------------------------------------------------------------------------

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

  // The model file with every payload inline, piece by piece (see PlanInline).
  auto write_inline = [&](const InlinePlan& plan) -> absl::Status {
    TFL_RETURN_IF_ERROR(CheckNotInput({CanonicalPath(path)}, options));
    TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out, AtomicFile::Create(path));
    TFL_RETURN_IF_ERROR(out->Reserve(0, plan.size));
    for (const InlinePiece& piece : plan.pieces) {
      TFL_RETURN_IF_ERROR(out->WriteAll(piece.bytes.data(), piece.bytes.size()));
      if (!piece.region) continue;
      const ExternalRegion& region = *piece.region;
      if (store.scheduled().count(region.key()) == 0) {  // untouched: copied by the kernel
        TFL_ASSIGN_OR_RETURN(int fd, input_fd(region.path));
        TFL_RETURN_IF_ERROR(
            CopyRange(fd, region.path, region.offset, region.length, out->fd(), path));
        continue;
      }
      TFL_ASSIGN_OR_RETURN(absl::string_view bytes, read_transformed(region));
      TFL_RETURN_IF_ERROR(out->WriteAll(bytes.data(), bytes.size()));
    }
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
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> data, AtomicFile::Create(data_path));
  int64_t offset = 0;
  // The same walk, order, threshold and alignment as SaveModel's externalization.
  TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
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
    } else if (store.scheduled().count(region->key()) != 0) {
      TFL_ASSIGN_OR_RETURN(absl::string_view bytes, read_transformed(*region));
      TFL_RETURN_IF_ERROR(WriteAll(data->fd(), bytes.data(), bytes.size(), data_path));
    } else {
      TFL_ASSIGN_OR_RETURN(int fd, input_fd(region->path));
      TFL_RETURN_IF_ERROR(
          CopyRange(fd, region->path, region->offset, region->length, data->fd(), data_path));
    }
    SetRawData(t, std::string());  // clears typed fields, as a full load does
    t.clear_raw_data();
    SetExternalDataEntries(t, data_name, padded, length);
    offset = padded + length;
    return absl::OkStatus();
  }));
  TFL_RETURN_IF_ERROR(data->Commit());
  SaveOptions model_options = options;
  model_options.use_external_data = false;
  absl::Status st = SaveModel(model, path, model_options);
  if (!st.ok()) ::unlink(data_path.c_str());  // no data file without its model
  return st;
}

// ---- in-place rewrite -------------------------------------------------------------------------

std::string InPlaceJournalPath(const std::string& model_path) {
  return model_path + ".tflayout-journal";
}

namespace {

constexpr char kJournalMagic[8] = {'T', 'F', 'L', 'J', 'R', 'N', 'L', '1'};
constexpr uint32_t kRecordMagic = 0x524c4654;  // "TFLR"
enum RecordType : uint32_t { kBegin = 1, kDone = 2, kAbort = 3, kCommit = 4 };

void PutU32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

std::string RecordHead(uint32_t type, const std::string& path, int64_t a, int64_t b) {
  std::string s;
  PutU32(s, kRecordMagic);
  PutU32(s, type);
  PutU32(s, static_cast<uint32_t>(path.size()));
  s += path;
  PutU64(s, static_cast<uint64_t>(a));
  PutU64(s, static_cast<uint64_t>(b));
  return s;
}

}  // namespace

// The journal file: a header (written whole, then renamed into place) and records appended
// and fsync'd one by one. See the protocol in the header file.
class InPlaceRewrite::Journal {
 public:
  struct Pending {
    ExternalRegion region;
    int64_t bytes_offset = 0;  // where the saved bytes start in the journal
    uint64_t bytes_hash = 0;
  };

  static absl::StatusOr<std::unique_ptr<Journal>> Create(const std::string& path,
                                                          int64_t model_size,
                                                          uint64_t model_hash,
                                                          const std::string& fingerprint) {
    std::string header(kJournalMagic, 8);
    PutU64(header, static_cast<uint64_t>(model_size));
    PutU64(header, model_hash);
    PutU32(header, static_cast<uint32_t>(fingerprint.size()));
    header += fingerprint;
    PutU64(header, HashBytes(header));
    TFL_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> tmp, AtomicFile::Create(path));
    TFL_RETURN_IF_ERROR(WriteAll(tmp->fd(), header.data(), header.size(), path));
    TFL_RETURN_IF_ERROR(tmp->Commit());
    auto j = std::unique_ptr<Journal>(new Journal);
    j->path_ = path;
    j->fd_ = FileDescriptor(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (j->fd_.get() < 0) return ErrnoError("cannot open journal", path);
    j->end_ = static_cast<int64_t>(header.size());
    j->model_size_ = model_size;
    j->model_hash_ = model_hash;
    j->fingerprint_ = fingerprint;
    return j;
  }

  // Parses an existing journal; a torn trailing record is noted (valid_end) and cut off by
  // Truncate().
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& path) {
    auto j = std::unique_ptr<Journal>(new Journal);
    j->path_ = path;
    j->fd_ = FileDescriptor(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (j->fd_.get() < 0) return ErrnoError("cannot open journal", path);
    struct stat st {};
    if (::fstat(j->fd_.get(), &st) != 0) return ErrnoError("cannot stat journal", path);
    const int64_t size = st.st_size;
    const int fd = j->fd_.get();
    auto corrupt = [&] {
      return absl::DataLossError(absl::StrCat(path, ": not a tflayout in-place journal"));
    };
    char fixed[8 + 8 + 8 + 4];
    if (size < static_cast<int64_t>(sizeof(fixed)) ||
        !PreadAll(fd, fixed, sizeof(fixed), 0, path).ok() ||
        std::memcmp(fixed, kJournalMagic, 8) != 0) {
      return corrupt();
    }
    uint64_t model_size, model_hash;
    uint32_t fp_len;
    std::memcpy(&model_size, fixed + 8, 8);
    std::memcpy(&model_hash, fixed + 16, 8);
    std::memcpy(&fp_len, fixed + 24, 4);
    if (fp_len > (1u << 20) || size < static_cast<int64_t>(sizeof(fixed) + fp_len + 8)) {
      return corrupt();
    }
    std::string header(fixed, sizeof(fixed));
    std::string fp(fp_len, '\0');
    uint64_t header_hash;
    if (!PreadAll(fd, fp.data(), fp_len, sizeof(fixed), path).ok() ||
        !PreadAll(fd, &header_hash, 8, sizeof(fixed) + fp_len, path).ok()) {
      return corrupt();
    }
    header += fp;
    if (HashBytes(header) != header_hash) return corrupt();
    j->model_size_ = static_cast<int64_t>(model_size);
    j->model_hash_ = model_hash;
    j->fingerprint_ = fp;

    int64_t pos = static_cast<int64_t>(header.size()) + 8;
    for (;;) {
      const int64_t start = pos;
      j->end_ = start;
      char head[12];
      if (pos + 12 > size || !PreadAll(fd, head, 12, pos, path).ok()) break;
      uint32_t magic, type, path_len;
      std::memcpy(&magic, head, 4);
      std::memcpy(&type, head + 4, 4);
      std::memcpy(&path_len, head + 8, 4);
      if (magic != kRecordMagic || path_len > 65536 || type < kBegin || type > kCommit) break;
      pos += 12;
      std::string rpath(path_len, '\0');
      int64_t a, b;
      if (pos + path_len + 16 > size || !PreadAll(fd, rpath.data(), path_len, pos, path).ok() ||
          !PreadAll(fd, &a, 8, pos + path_len, path).ok() ||
          !PreadAll(fd, &b, 8, pos + path_len + 8, path).ok()) {
        break;
      }
      pos += path_len + 16;
      std::string hashed = RecordHead(type, rpath, a, b);
      uint64_t bytes_hash = 0;
      int64_t bytes_offset = pos;
      if (type == kBegin) {
        if (b < 0 || pos + b + 8 > size) break;
        pos += b;
        if (!PreadAll(fd, &bytes_hash, 8, pos, path).ok()) break;
        pos += 8;
        PutU64(hashed, bytes_hash);
      }
      uint64_t record_hash;
      if (pos + 8 > size || !PreadAll(fd, &record_hash, 8, pos, path).ok()) break;
      pos += 8;
      if (HashBytes(hashed) != record_hash) break;
      const ExternalRegion::Key key{rpath, a, b};
      switch (type) {
        case kBegin: {
          Pending p;
          p.region.path = rpath;
          p.region.location = rpath;
          p.region.offset = a;
          p.region.length = b;
          p.bytes_offset = bytes_offset;
          p.bytes_hash = bytes_hash;
          j->pending_ = p;
          break;
        }
        case kDone:
          j->done_.insert(key);
          if (j->pending_ && j->pending_->region.key() == key) j->pending_.reset();
          break;
        case kAbort:
          if (j->pending_ && j->pending_->region.key() == key) j->pending_.reset();
          break;
        case kCommit:
          j->commit_ = std::make_pair(a, static_cast<uint64_t>(b));
          break;
      }
      j->end_ = pos;
    }
    j->torn_ = j->end_ < size;
    return j;
  }

  const std::string& path() const { return path_; }
  int64_t model_size() const { return model_size_; }
  uint64_t model_hash() const { return model_hash_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::set<ExternalRegion::Key>& done() const { return done_; }
  const std::optional<Pending>& pending() const { return pending_; }
  const std::optional<std::pair<int64_t, uint64_t>>& commit() const { return commit_; }

  // Cuts off a torn trailing record (appends must follow the last whole record).
  absl::Status Truncate() {
    if (!torn_) return absl::OkStatus();
    if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0 || ::fsync(fd_.get()) != 0) {
      return ErrnoError("cannot truncate journal", path_);
    }
    torn_ = false;
    return absl::OkStatus();
  }

  // Puts a pending tensor's saved bytes back into its data file.
  absl::Status RollBack(const Pending pending) {
    const Pending& p = pending;
    FileDescriptor data(::open(p.region.path.c_str(), O_RDWR | O_CLOEXEC));
    if (data.get() < 0) return ErrnoError("cannot open external data", p.region.path);
    struct stat st {};
    if (::fstat(data.get(), &st) != 0 || p.region.offset + p.region.length > st.st_size) {
      return absl::DataLossError(absl::StrCat(
          path_, ": the interrupted tensor's region no longer fits '", p.region.path, "'"));
    }
    // Verify the saved bytes first: a journal that cannot restore them must not write.
    std::string buf(static_cast<size_t>(std::min<int64_t>(p.region.length, kChunkBytes)), '\0');
    Hasher h;
    for (int64_t done = 0; done < p.region.length;) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(p.region.length - done, buf.size()));
      TFL_RETURN_IF_ERROR(PreadAll(fd_.get(), buf.data(), n, p.bytes_offset + done, path_));
      h.Update(buf.data(), n);
      done += static_cast<int64_t>(n);
    }
    if (h.Final() != p.bytes_hash) {
      return absl::DataLossError(
          absl::StrCat(path_, ": the saved bytes of the interrupted tensor are damaged"));
    }
    for (int64_t done = 0; done < p.region.length;) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(p.region.length - done, buf.size()));
      TFL_RETURN_IF_ERROR(PreadAll(fd_.get(), buf.data(), n, p.bytes_offset + done, path_));
      TFL_RETURN_IF_ERROR(PwriteAll(data.get(), buf.data(), n, p.region.offset + done,
                                    p.region.path));
      done += static_cast<int64_t>(n);
    }
    if (::fsync(data.get()) != 0) return ErrnoError("fsync failed", p.region.path);
    InPlaceCrashPoint();
    return AppendSimple(kAbort, p.region.path, p.region.offset, p.region.length);
  }

  // BEGIN record with the region's current bytes, read from `data_fd`; fsync'd.
  absl::Status AppendBegin(const ExternalRegion& region, int data_fd) {
    const std::string head = RecordHead(kBegin, region.path, region.offset, region.length);
    TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), head.data(), head.size(), end_, path_));
    int64_t pos = end_ + static_cast<int64_t>(head.size());
    const int64_t bytes_offset = pos;
    std::string buf(static_cast<size_t>(std::min<int64_t>(region.length, kChunkBytes)), '\0');
    Hasher h;
    bool crashed_half = false;
    for (int64_t done = 0; done < region.length;) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(region.length - done, buf.size()));
      TFL_RETURN_IF_ERROR(PreadAll(data_fd, buf.data(), n, region.offset + done, region.path));
      h.Update(buf.data(), n);
      TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), buf.data(), n, pos, path_));
      pos += static_cast<int64_t>(n);
      done += static_cast<int64_t>(n);
      if (!crashed_half) {  // a torn record: part of the bytes, no trailer
        crashed_half = true;
        InPlaceCrashPoint();
      }
    }
    const uint64_t bytes_hash = h.Final();
    std::string trailer;
    PutU64(trailer, bytes_hash);
    std::string hashed = head;
    PutU64(hashed, bytes_hash);
    PutU64(trailer, HashBytes(hashed));
    TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), trailer.data(), trailer.size(), pos, path_));
    if (::fsync(fd_.get()) != 0) return ErrnoError("fsync failed", path_);
    last_bytes_ = {bytes_offset, region.length};
    pending_ = Pending{region, bytes_offset, bytes_hash};
    end_ = pos + static_cast<int64_t>(trailer.size());
    return absl::OkStatus();
  }

  absl::Status AppendSimple(uint32_t type, const std::string& rpath, int64_t a, int64_t b) {
    std::string rec = RecordHead(type, rpath, a, b);
    PutU64(rec, HashBytes(rec));
    TFL_RETURN_IF_ERROR(PwriteAll(fd_.get(), rec.data(), rec.size(), end_, path_));
    if (::fsync(fd_.get()) != 0) return ErrnoError("fsync failed", path_);
    end_ += static_cast<int64_t>(rec.size());
    if (type == kDone || type == kAbort) pending_.reset();
    return absl::OkStatus();
  }

  // Frees the disk blocks of the last BEGIN's saved bytes (no longer needed once DONE is
  // durable); best effort, the record structure is unchanged.
  void DropLastBytes() {
    if (last_bytes_.second > 0) {
      (void)::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(last_bytes_.first),
                        static_cast<off_t>(last_bytes_.second));
    }
    last_bytes_ = {0, 0};
  }

  absl::Status Remove() {
    fd_ = FileDescriptor();
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("cannot remove journal", path_);
    }
    SyncDir(DirOf(path_));
    return absl::OkStatus();
  }

 private:
  Journal() = default;
  std::string path_;
  FileDescriptor fd_;
  int64_t end_ = 0;
  bool torn_ = false;
  int64_t model_size_ = 0;
  uint64_t model_hash_ = 0;
  std::string fingerprint_;
  std::set<ExternalRegion::Key> done_;
  std::optional<Pending> pending_;
  std::optional<std::pair<int64_t, uint64_t>> commit_;
  std::pair<int64_t, int64_t> last_bytes_{0, 0};
};

InPlaceRewrite::~InPlaceRewrite() = default;

absl::StatusOr<std::unique_ptr<InPlaceRewrite>> InPlaceRewrite::Begin(
    const std::string& model_path, const std::string& fingerprint) {
  auto rewrite = std::unique_ptr<InPlaceRewrite>(new InPlaceRewrite);
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
  TFL_ASSIGN_OR_RETURN(std::unique_ptr<Journal> journal, Journal::Open(rewrite->journal_path_));
  TFL_ASSIGN_OR_RETURN(auto model_id, HashFile(model_path));
  if (journal->commit() && *journal->commit() == model_id) {
    // The new model file is in place: only the journal was left.
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
    TFL_ASSIGN_OR_RETURN(journal_, Journal::Create(journal_path_, model_id.first,
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
  return journal_->Remove();
}

}  // namespace tflayout
