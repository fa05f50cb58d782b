// Fuzz target (ii): the full default pipeline, as tflayout-opt runs it: parse, then
// ParsePipeline(kDefaultPipeline) + RunPipeline (verification on), then SerializeModel.
// When a run succeeds, its output must load again and a second run must change nothing
// (the annotation records what was done). Remarks are left out of that comparison unless
// TFLAYOUT_FUZZ_STRICT_REMARKS=1: a known pass issue makes them differ between runs (see
// tests/regressions/README.md), and it would stop every fuzzing run early.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_common.h"
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
#include "tflayout/pass_manager.h"

namespace {


// The serialized model, with the annotation's remarks dropped unless strict.
std::string Comparable(const onnx::ModelProto& model) {
  static const bool strict = [] {
    const char* v = std::getenv("TFLAYOUT_FUZZ_STRICT_REMARKS");
    return v != nullptr && std::string(v) == "1";
  }();
  if (strict) return model.SerializeAsString();
  onnx::ModelProto copy = model;
  absl::StatusOr<tflayout::Annotation> annotation = tflayout::ReadAnnotation(copy);
  tflayout::fuzz::Require(annotation.ok(), "output annotation does not parse");
  annotation->clear_remarks();
  tflayout::fuzz::Require(tflayout::WriteAnnotation(*annotation, copy).ok(), "annotation write");
  return copy.SerializeAsString();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tflayout::fuzz::BaseDir();
  (void)tflayout::fuzz::BuiltinRegistry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tflayout;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<LoadedModel> loaded = ParseModel(bytes, fuzz::BaseDir(), "fuzz.onnx");
  if (!loaded.ok()) return 0;

  auto passes = ParsePipeline(kDefaultPipeline, fuzz::BuiltinRegistry());
  fuzz::Require(passes.ok(), "default pipeline does not parse");
  absl::StatusOr<PipelineResult> result = RunPipeline(loaded->model, *passes);
  if (!result.ok()) {
    fuzz::Require(!result.status().message().empty(), "pipeline error without a message");
    return 0;
  }
  absl::StatusOr<std::string> out = SerializeModel(loaded->model);
  if (!out.ok()) return 0;

  // The output is a model tflayout accepts again, and a second run is a no-op.
  absl::StatusOr<LoadedModel> again = ParseModel(*out, "", "fuzz-out.onnx");
  fuzz::Require(again.ok(), "output does not load again", std::string(again.status().message()));
  auto passes2 = ParsePipeline(kDefaultPipeline, fuzz::BuiltinRegistry());
  absl::StatusOr<PipelineResult> second = RunPipeline(again->model, *passes2);
  fuzz::Require(second.ok(), "second run over the output failed",
                std::string(second.status().message()));
  fuzz::Require(Comparable(again->model) == Comparable(loaded->model),
                "second run changed the model");
  return 0;
}
