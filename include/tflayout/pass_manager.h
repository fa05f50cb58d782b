// Runs a pipeline of passes over a model: reads the annotation first and writes it back last,
// verifies after each pass, and records timing and statistics per pass.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tflayout/pass.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

struct PipelineOptions {
  // Verify (structure + ONNX checker) after each pass. The checker is only demanded after a
  // pass when the input model passed it: tflayout does not reject models for earlier defects.
  bool verify_each = true;
  // Pass names after which the IR is printed, or "all".
  std::vector<std::string> print_ir_after;
  std::function<void(const std::string& pass_name, const std::string& ir_text)> ir_sink;
  int num_threads = 1;
  // Handed to passes as PassContext::weight_store (external tensors left on disk); may be null.
  WeightStore* weight_store = nullptr;
};

struct PassRun {
  std::string name;
  bool changed = false;
  double seconds = 0;
  std::map<std::string, int64_t> statistics;
  std::optional<WeightLayoutReport> weight_layout;
};

struct PipelineResult {
  bool changed = false;
  std::vector<PassRun> passes;
  Annotation annotation;
};

absl::StatusOr<PipelineResult> RunPipeline(onnx::ModelProto& model,
                                           std::vector<std::unique_ptr<Pass>>& passes,
                                           const PipelineOptions& options = {});

// The ONNX text form of the model's main graph (ONNX's printer).
std::string PrintModelText(const onnx::ModelProto& model);

}  // namespace tflayout
