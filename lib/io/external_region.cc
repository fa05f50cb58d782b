#include "lib/io/external_region.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lib/io/file_util.h"
#include "tflayout/model_io.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {

namespace fs = std::filesystem;
using onnx::TensorProto;

absl::StatusOr<ExternalRef> ParseExternalRef(const TensorProto& tensor) {
  ExternalRef ref;
  for (const onnx::StringStringEntryProto& kv : tensor.external_data()) {
    auto parse_int = [&](int64_t* out) -> absl::Status {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(kv.value().c_str(), &end, 10);
      if (kv.value().empty() || *end != '\0' || errno != 0 || v < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", tensor.name(), "': external data ", kv.key(), " '", kv.value(),
            "' is not a non-negative integer"));
      }
      *out = v;
      return absl::OkStatus();
    };
    if (kv.key() == "location") {
      ref.location = kv.value();
    } else if (kv.key() == "offset") {
      TFL_RETURN_IF_ERROR(parse_int(&ref.offset));
    } else if (kv.key() == "length") {
      TFL_RETURN_IF_ERROR(parse_int(&ref.length));
    }
  }
  if (ref.location.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", tensor.name(), "': external data has no location"));
  }
  return ref;
}

void SetExternalDataEntries(TensorProto& tensor, const std::string& location, int64_t offset,
                            int64_t length) {
  tensor.clear_external_data();
  tensor.set_data_location(TensorProto::EXTERNAL);
  auto add = [&](const char* key, std::string value) {
    auto* kv = tensor.add_external_data();
    kv->set_key(key);
    kv->set_value(std::move(value));
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
}

std::string CanonicalPath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? path : p.string();
}

absl::StatusOr<std::string> ResolveExternalLocation(const std::string& base_dir,
                                                    const std::string& location) {
  const fs::path loc(location);
  if (location.empty() || loc.is_absolute() || location.find('\0') != std::string::npos) {
    return absl::PermissionDeniedError(absl::StrCat(
        "external data location '", location, "' must be a relative path inside the model's folder"));
  }
  for (const fs::path& part : loc) {
    if (part == "..") {
      return absl::PermissionDeniedError(absl::StrCat(
          "external data location '", location, "' contains '..'"));
    }
  }
  std::error_code ec;
  const fs::path base = fs::canonical(base_dir, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("model folder '", base_dir, "' not found"));
  const fs::path full = fs::canonical(base / loc, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("external data file '", location,
                                            "' not found in '", base.string(), "'"));
  }
  // Symlinks may point anywhere: compare the resolved path against the resolved folder.
  auto [base_end, full_it] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (base_end != base.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "external data location '", location, "' resolves to '", full.string(),
        "', outside the model's folder"));
  }
  return full.string();
}

absl::StatusOr<ExternalRegion> ResolveExternalRegion(const TensorProto& tensor,
                                                    const std::string& base_dir,
                                                    int64_t max_bytes) {
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
  if (count > max_bytes / static_cast<int64_t>(elem)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(label, " is over 2 GiB and cannot be held in one message"));
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

void SetLoadedLocation(TensorProto& tensor, bool embedded) {
  if (embedded) {
    tensor.clear_data_location();
  } else {
    tensor.set_data_location(TensorProto::DEFAULT);
  }
}

absl::Status LoadExternalRegion(TensorProto& tensor, const ExternalRegion& region,
                                bool embedded) {
  FileDescriptor fd(::open(region.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return WithContext(ErrnoError("cannot open external data", region.path),
                       absl::StrCat("tensor '", tensor.name(), "'"));
  }
  std::string bytes(static_cast<size_t>(region.length), '\0');
  TFL_RETURN_IF_ERROR(PreadAll(fd.get(), bytes.data(), bytes.size(), region.offset, region.path));
  tensor.clear_external_data();
  SetLoadedLocation(tensor, embedded);
  SetRawData(tensor, std::move(bytes));
  return absl::OkStatus();
}

}  // namespace tflayout
