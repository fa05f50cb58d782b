#include "tflayout/c_api.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tflayout/annotation.h"
#include "lib/io/model_files.h"
#include "tflayout/model_io.h"
#include "tflayout/pass_manager.h"
#include "tflayout/register_builtin_passes.h"
#include "tflayout/targets.h"

namespace tflayout {
namespace {

char* CopyString(const std::string& text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy != nullptr) std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

tflayout_status Fail(tflayout_status status, const absl::Status& why, char** error) {
  if (error != nullptr) *error = CopyString(std::string(why.message()));
  return status;
}

// Parses the pipeline and runs it; the status category tells usage from pass failures.
tflayout_status RunPasses(onnx::ModelProto& model, const char* pipeline, char** error,
                          WeightStore* weight_store = nullptr) {
  PassRegistry registry;
  if (absl::Status st = RegisterBuiltinPasses(registry); !st.ok()) {
    return Fail(TFLAYOUT_ERROR_PASS, st, error);
  }
  const std::string text =
      (pipeline == nullptr || std::strcmp(pipeline, "default") == 0) ? kDefaultPipeline : pipeline;
  auto passes = ParsePipeline(text, registry);
  if (!passes.ok()) return Fail(TFLAYOUT_ERROR_USAGE, passes.status(), error);
  PipelineOptions options;
  options.weight_store = weight_store;
  auto result = RunPipeline(model, *passes, options);
  if (!result.ok()) {
    return Fail(absl::IsInvalidArgument(result.status()) ? TFLAYOUT_ERROR_INPUT
                                                         : TFLAYOUT_ERROR_PASS,
                result.status(), error);
  }
  return TFLAYOUT_OK;
}

struct PassInfo {
  std::string name;
  std::string summary;
};

// The built-in passes, listed once; immutable afterwards, so reading it is thread-safe.
const std::vector<PassInfo>& BuiltinPasses() {
  static const std::vector<PassInfo>* const passes = [] {
    auto* list = new std::vector<PassInfo>();
    PassRegistry registry;
    if (!RegisterBuiltinPasses(registry).ok()) return list;
    for (const std::string& name : registry.Names()) {
      auto pass = registry.Create(name);
      if (pass.ok()) list->push_back({name, (*pass)->Summary()});
    }
    return list;
  }();
  return *passes;
}

}  // namespace
}  // namespace tflayout

extern "C" {

int tflayout_api_version(void) { return TFLAYOUT_C_API_VERSION; }

const char* tflayout_version(void) { return tflayout::ToolVersion(); }

tflayout_status tflayout_run_bytes(const void* model, size_t size, const char* pipeline,
                                   const char* base_dir, void** out_model, size_t* out_size,
                                   char** error) {
  using namespace tflayout;
  if (error != nullptr) *error = nullptr;
  if ((model == nullptr && size > 0) || out_model == nullptr || out_size == nullptr) {
    return Fail(TFLAYOUT_ERROR_USAGE, absl::InvalidArgumentError("null argument"), error);
  }
  *out_model = nullptr;
  *out_size = 0;
  auto loaded = ParseModel(absl::string_view(static_cast<const char*>(model), size),
                           base_dir ? base_dir : "", "<bytes>");
  if (!loaded.ok()) return Fail(TFLAYOUT_ERROR_INPUT, loaded.status(), error);
  if (tflayout_status st = RunPasses(loaded->model, pipeline, error); st != TFLAYOUT_OK) return st;
  auto bytes = SerializeModel(loaded->model);
  if (!bytes.ok()) return Fail(TFLAYOUT_ERROR_OUTPUT, bytes.status(), error);
  void* buffer = std::malloc(bytes->empty() ? 1 : bytes->size());
  if (buffer == nullptr) {
    return Fail(TFLAYOUT_ERROR_OUTPUT, absl::ResourceExhaustedError("out of memory"), error);
  }
  std::memcpy(buffer, bytes->data(), bytes->size());
  *out_model = buffer;
  *out_size = bytes->size();
  return TFLAYOUT_OK;
}

tflayout_status tflayout_run_file(const char* input_path, const char* output_path,
                                  const char* pipeline, char** error) {
  using namespace tflayout;
  if (error != nullptr) *error = nullptr;
  if (input_path == nullptr || output_path == nullptr) {
    return Fail(TFLAYOUT_ERROR_USAGE, absl::InvalidArgumentError("null path"), error);
  }
  if (CanonicalPath(input_path) == CanonicalPath(output_path)) {
    return Fail(TFLAYOUT_ERROR_USAGE,
                absl::InvalidArgumentError(absl::StrCat(output_path, ": output path is the input path")),
                error);
  }
  // As tflayout-opt IN -o OUT: weights stream from the input to the output (lib/io/model_files.h).
  const ModelFileOptions options;
  std::unique_ptr<ExternalDataStore> store;
  auto loaded = LoadModelFile(input_path, options, store);
  if (!loaded.ok()) return Fail(TFLAYOUT_ERROR_INPUT, loaded.status(), error);
  if (tflayout_status st = RunPasses(loaded->model, pipeline, error, store.get());
      st != TFLAYOUT_OK) {
    return st;
  }
  if (absl::Status st = SaveModelFile(*loaded, store.get(), output_path, options); !st.ok()) {
    return Fail(TFLAYOUT_ERROR_OUTPUT, st, error);
  }
  return TFLAYOUT_OK;
}

const char* tflayout_target_pipeline(const char* target) {
  if (target == nullptr) return nullptr;
  for (const tflayout::Target& t : tflayout::Targets()) {
    if (std::strcmp(t.name, target) == 0) return t.pipeline;
  }
  return nullptr;
}

const char* tflayout_default_pipeline(void) { return tflayout::kDefaultPipeline; }

const char* tflayout_pass_name(size_t index) {
  const auto& passes = tflayout::BuiltinPasses();
  return index < passes.size() ? passes[index].name.c_str() : nullptr;
}

const char* tflayout_pass_summary(size_t index) {
  const auto& passes = tflayout::BuiltinPasses();
  return index < passes.size() ? passes[index].summary.c_str() : nullptr;
}

const char* tflayout_target_name(size_t index) {
  const auto& targets = tflayout::Targets();
  return index < targets.size() ? targets[index].name : nullptr;
}

void tflayout_free(void* pointer) { std::free(pointer); }

}  // extern "C"
