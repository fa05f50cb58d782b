// Helpers shared by the GoogleTest suites: building small real ONNX models, temporary
// folders, and running the tflayout-opt binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tflayout/pass_manager.h"
#include "onnx/onnx_pb.h"

namespace tflayout::testing {

// How a ConvTranspose weight is stored in a generated model.
enum class WeightStorage { kRaw, kTyped, kExternal, kConstantNode };
const char* StorageName(WeightStorage storage);

struct ConvTransposeSpec {
  int spatial_rank = 2;
  int64_t in_channels = 4;   // C
  int64_t out_channels = 6;  // M (total, across groups)
  int64_t group = 1;
  std::vector<int64_t> kernel;  // default 3 per axis
  std::vector<int64_t> input_spatial;  // default 5 per axis
  int32_t data_type = onnx::TensorProto::FLOAT;
  WeightStorage storage = WeightStorage::kRaw;
  int64_t opset = 13;
  int64_t ir_version = 8;
  std::vector<int64_t> strides, pads, dilations, output_padding, output_shape;
  std::string auto_pad;  // empty: attribute absent
  bool with_bias = false;
};

// Dims of W: (C, M/group, k...).
std::vector<int64_t> WeightDims(const ConvTransposeSpec& spec);

// A checker-valid model: X -> ConvTranspose(X, W[, B]) -> Y, W filled with distinct values
// (element i holds a type-appropriate encoding of i+1). External storage needs `folder`,
// where "weights.bin" is written.
onnx::ModelProto MakeConvTransposeModel(const ConvTransposeSpec& spec,
                                        const std::string& folder = "");

// The weight's logical elements as little-endian bytes, wherever the tensor keeps them.
std::string WeightBytes(const onnx::ModelProto& model, const std::string& tensor_name);

// A float32 tensor in raw_data holding start, start + step, start + 2 * step, ...
onnx::TensorProto RawFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                 float start = 0.f, float step = 1.f);

// A fresh folder under the test's temporary directory, removed at process exit.
std::string MakeTempDir();

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);
bool FileExists(const std::string& path);
std::vector<std::string> ListDir(const std::string& dir);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command, capturing stdout (append 2>&1 for stderr too).
CommandResult RunShell(const std::string& command);
// Runs tflayout-opt with the given arguments (shell-quoted by this function).
CommandResult RunOpt(const std::vector<std::string>& args);

// Runs a pipeline of built-in passes on the model, in process.
absl::StatusOr<PipelineResult> RunPasses(onnx::ModelProto& model, const std::string& pipeline);

std::string SourcePath(const std::string& relative);

// n pseudo-random bytes, the same for the same seed.
std::string RandomBytes(size_t n, uint32_t seed);

}  // namespace tflayout::testing
