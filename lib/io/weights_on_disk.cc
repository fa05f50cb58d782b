#include "lib/io/weights_on_disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"
#include "lib/io/wire_format.h"

namespace tflayout {
namespace {

namespace fs = std::filesystem;

// Field numbers of onnx.proto on the path to the payloads.
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kTensorRawData = 9;
constexpr uint32_t kTensorExternalData = 13;
constexpr uint32_t kTensorDataLocation = 14;
// Typed element fields (float_data, int32_data, string_data, int64_data, double_data,
// uint64_data): a tensor with any of them next to raw_data stays in memory.
constexpr uint32_t kTensorTypedFields[] = {4, 5, 6, 7, 10, 11};

using WireType = wire::WireFormatLite::WireType;
constexpr WireType kVarint = wire::WireFormatLite::WIRETYPE_VARINT;
constexpr WireType kFixed64 = wire::WireFormatLite::WIRETYPE_FIXED64;
constexpr WireType kFixed32 = wire::WireFormatLite::WIRETYPE_FIXED32;
constexpr WireType kLengthDelimited = wire::WireFormatLite::WIRETYPE_LENGTH_DELIMITED;


// Reads a file through pread with a small window: the scan reads tags and lengths and jumps
// over payloads without touching them.
class FileScanner {
 public:
  FileScanner(int fd, int64_t size) : fd_(fd), size_(size) {}
  int64_t size() const { return size_; }

  // Appends [offset, offset + n) of the file to out.
  bool CopyTo(int64_t offset, int64_t n, std::string& out) {
    if (offset < 0 || n < 0 || offset > size_ || n > size_ - offset) return false;
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(n));
    return PreadAll(fd_, out.data() + at, static_cast<size_t>(n), offset, "").ok();
  }

  // Reads a varint at `pos` and advances it.
  bool Varint(int64_t& pos, uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte;
      if (!Byte(pos++, byte)) return false;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

 private:
  bool Byte(int64_t pos, uint8_t& byte) {
    if (pos < 0 || pos >= size_) return false;
    if (pos < window_begin_ || pos >= window_begin_ + static_cast<int64_t>(window_.size())) {
      const int64_t n = std::min<int64_t>(kWindow, size_ - pos);
      window_.resize(static_cast<size_t>(n));
      if (!PreadAll(fd_, window_.data(), window_.size(), pos, "").ok()) return false;
      window_begin_ = pos;
    }
    byte = static_cast<uint8_t>(window_[static_cast<size_t>(pos - window_begin_)]);
    return true;
  }

  static constexpr int64_t kWindow = 64 << 10;
  int fd_;
  int64_t size_;
  std::string window_;
  int64_t window_begin_ = 0;
};

// One field of a message: bytes [begin, end) of the file, tag included; for length-delimited
// fields the value is [value, end).
struct Field {
  uint32_t number = 0;
  int wire = 0;
  int64_t begin = 0, value = 0, end = 0;
};

// The field starting at `pos`, inside a message ending at `limit`.
bool NextField(FileScanner& in, int64_t& pos, int64_t limit, Field& f) {
  f.begin = pos;
  uint64_t tag;
  if (!in.Varint(pos, tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
  f.number = static_cast<uint32_t>(tag >> 3);
  f.wire = static_cast<int>(tag & 7);
  uint64_t v;
  switch (f.wire) {
    case kVarint:
      if (!in.Varint(pos, v)) return false;
      break;
    case kFixed64: pos += 8; break;
    case kFixed32: pos += 4; break;
    case kLengthDelimited:
      if (!in.Varint(pos, v) || v > static_cast<uint64_t>(limit)) return false;
      pos += static_cast<int64_t>(v);
      break;
    default:
      return false;  // groups: not in onnx.proto
  }
  f.value = f.wire == kLengthDelimited ? pos - static_cast<int64_t>(v) : f.begin;
  f.end = pos;
  return pos <= limit;
}

void PutLengthDelimited(uint32_t number, const std::string& value, std::string& out) {
  wire::PutHeader(number, value.size(), out);
  out += value;
}

struct Payload {
  int initializer = 0;  // index in graph.initializer
  int64_t offset = 0, length = 0;
};

// A TensorProto in [begin, end): its bytes without a large raw_data payload (recorded in
// `payload`), or all of them.
bool ScanTensor(FileScanner& in, int64_t begin, int64_t end, int64_t min_payload,
                std::string& out, std::optional<Payload>& payload) {
  std::vector<Field> fields;
  int raw_fields = 0;
  bool other_storage = false;
  for (int64_t pos = begin; pos < end;) {
    Field f;
    if (!NextField(in, pos, end, f)) return false;
    if (f.number == kTensorRawData) ++raw_fields;
    other_storage |= f.number == kTensorExternalData || f.number == kTensorDataLocation ||
                     std::count(std::begin(kTensorTypedFields), std::end(kTensorTypedFields),
                                f.number) > 0;
    fields.push_back(f);
  }
  payload.reset();
  const bool eligible = raw_fields == 1 && !other_storage;
  for (const Field& f : fields) {
    if (eligible && f.number == kTensorRawData && f.wire == kLengthDelimited &&
        f.end - f.value >= min_payload) {
      payload = Payload{0, f.value, f.end - f.value};
      continue;
    }
    if (!in.CopyTo(f.begin, f.end - f.begin, out)) return false;
  }
  return true;
}

bool ScanGraph(FileScanner& in, int64_t begin, int64_t end, int64_t min_payload,
               std::string& out, std::vector<Payload>& payloads) {
  int initializer = 0;
  for (int64_t pos = begin; pos < end;) {
    Field f;
    if (!NextField(in, pos, end, f)) return false;
    if (f.number != kGraphInitializer || f.wire != kLengthDelimited) {
      if (!in.CopyTo(f.begin, f.end - f.begin, out)) return false;
      continue;
    }
    std::string tensor;
    std::optional<Payload> payload;
    if (!ScanTensor(in, f.value, f.end, min_payload, tensor, payload)) return false;
    if (payload) {
      payload->initializer = initializer;
      payloads.push_back(*payload);
    }
    PutLengthDelimited(kGraphInitializer, tensor, out);
    ++initializer;
  }
  return true;
}

// The model's bytes without the large payloads, or nullopt when it does not qualify.
std::optional<std::string> ScanModel(FileScanner& in, int64_t min_payload,
                                     std::vector<Payload>& payloads) {
  std::string out;
  bool graph_seen = false;
  for (int64_t pos = 0; pos < in.size();) {
    Field f;
    if (!NextField(in, pos, in.size(), f)) return std::nullopt;
    if (f.number != kModelGraph || f.wire != kLengthDelimited) {
      if (!in.CopyTo(f.begin, f.end - f.begin, out)) return std::nullopt;
      continue;
    }
    if (graph_seen) return std::nullopt;  // protobuf would merge the two
    graph_seen = true;
    std::string graph;
    if (!ScanGraph(in, f.value, f.end, min_payload, graph, payloads)) return std::nullopt;
    PutLengthDelimited(kModelGraph, graph, out);
  }
  return out;
}

// The model file is its own data file only when its name resolves to it inside its folder
// (external-data locations must; a symlink from elsewhere does not).
bool FileResolvesInItsFolder(const std::string& path) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) return false;
  const fs::path folder = fs::canonical(DirOf(path), ec);
  return !ec && canonical.parent_path() == folder;
}

}  // namespace

absl::StatusOr<LoadedModel> LoadModelWeightsOnDisk(const std::string& path,
                                                   int64_t min_payload_bytes) {
  const LoadOptions keep_external{/*load_external_data=*/false};
  auto ordinary = [&] { return LoadModel(path, keep_external); };

  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      min_payload_bytes < 1 || st.st_size < min_payload_bytes || st.st_size > kMaxProtobufBytes ||
      !FileResolvesInItsFolder(path)) {
    return ordinary();
  }
  FileScanner scanner(fd.get(), st.st_size);
  std::vector<Payload> payloads;
  const std::optional<std::string> skeleton = ScanModel(scanner, min_payload_bytes, payloads);
  if (!skeleton || payloads.empty()) return ordinary();

  absl::StatusOr<LoadedModel> loaded =
      ParseModel(*skeleton, DirOf(path), path, keep_external);
  if (!loaded.ok()) return ordinary();  // the full parse reports the error
  loaded->path = path;
  onnx::GraphProto& graph = *loaded->model.mutable_graph();
  const std::string location = fs::path(path).filename().string();
  for (const Payload& p : payloads) {
    if (p.initializer >= graph.initializer_size()) return ordinary();
    onnx::TensorProto& tensor = *graph.mutable_initializer(p.initializer);
    const size_t element = RawElementSize(tensor.data_type());
    absl::StatusOr<int64_t> count = CheckedElementCount(tensor);
    if (element == 0 || !count.ok() || p.length % static_cast<int64_t>(element) != 0 ||
        *count != p.length / static_cast<int64_t>(element)) {
      return ordinary();
    }
    SetExternalDataEntries(tensor, location, p.offset, p.length);
  }
  loaded->weights_file = fs::canonical(path).string();
  return loaded;
}

}  // namespace tflayout
