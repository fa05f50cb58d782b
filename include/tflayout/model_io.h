// Loading and saving binary ONNX models.
//
// - Parsing streams from the file (no second in-memory copy of the bytes).
// - External data is read into raw_data at load time through validated paths: a location must
//   be relative, free of "..", and resolve (symlinks included) inside the model's folder;
//   offset/length must lie inside the file and agree with dims.
// - Saving is atomic: everything is written to a temporary file in the destination folder and
//   renamed over the destination only when complete, so an output is complete or absent.
// - Everything the pipeline does not touch survives: protobuf keeps unknown (newer) fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

// Protobuf cannot hold one message over 2 GiB.
inline constexpr int64_t kMaxProtobufBytes = (int64_t{1} << 31) - 1;

struct LoadOptions {
  // Read external tensors into raw_data (false keeps their references untouched).
  bool load_external_data = true;
  // Deepest allowed nesting of subgraphs (main graph = 0).
  int max_graph_depth = 64;
};

struct LoadedModel {
  onnx::ModelProto model;
  std::string path;                      // as given
  std::string base_dir;                  // folder external data is resolved against
  std::vector<std::string> external_files;  // canonical paths of data files that were read
  // LoadModelWeightsOnDisk (lib/io/weights_on_disk.h): canonical path of the model file when
  // embedded initializers were left in it as external references; empty otherwise.
  std::string weights_file;
};

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, const LoadOptions& options = {});

// Parses serialized bytes; external data (if any) is resolved against base_dir, and
// display_name is used in messages. An empty base_dir rejects models with external data.
absl::StatusOr<LoadedModel> ParseModel(absl::string_view bytes, const std::string& base_dir,
                                       const std::string& display_name,
                                       const LoadOptions& options = {});

// A tensor's external-data reference (TensorProto.external_data entries).
struct ExternalRef {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;  // -1: to the end of the file
};

// Parses location/offset/length, refusing a missing location and values that are not
// non-negative integers. The location is not validated here (ResolveExternalLocation does).
absl::StatusOr<ExternalRef> ParseExternalRef(const onnx::TensorProto& tensor);

// Points the tensor at `length` bytes at `offset` of `location` (data_location = EXTERNAL).
void SetExternalDataEntries(onnx::TensorProto& tensor, const std::string& location,
                            int64_t offset, int64_t length);

// Validates an external-data location and returns the canonical path it names.
absl::StatusOr<std::string> ResolveExternalLocation(const std::string& base_dir,
                                                    const std::string& location);

struct SaveOptions {
  // Write tensors of at least external_threshold_bytes into one data file beside the model.
  bool use_external_data = false;
  // Without use_external_data: write external data anyway when the model would not fit in
  // one protobuf message (2 GiB), instead of failing.
  bool external_data_over_limit = false;
  size_t external_threshold_bytes = 1024;
  // Data file name, relative to the model's folder; default "<model file name>.data".
  std::string external_file_name;
  // Files that must not be overwritten (the input model and its data files).
  std::vector<std::string> protected_paths;
  // fsync the files (and their folder after the rename): an output complete or absent even
  // after a power loss. Without it, complete or absent whatever happens to the process (the
  // file is renamed into place when written), written back by the kernel like any copy.
  bool sync = false;
};

// Writes `model` to `path` atomically. With external data, the model is modified while
// writing and restored before returning.
absl::Status SaveModel(onnx::ModelProto& model, const std::string& path,
                       const SaveOptions& options = {});

// InvalidArgument when one of `targets` (canonical paths) is one of options.protected_paths.
absl::Status CheckNotInput(const std::vector<std::string>& targets, const SaveOptions& options);

// Serializes to bytes; fails cleanly when the message would exceed 2 GiB.
absl::StatusOr<std::string> SerializeModel(const onnx::ModelProto& model);

// Writes `bytes` to `path` atomically (temporary file + rename).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

// Canonical absolute form of a path whose last component may not exist yet.
std::string CanonicalPath(const std::string& path);

}  // namespace tflayout
