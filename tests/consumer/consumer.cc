// Uses the installed C++ API: load a model, run the default pipeline, report the rewrites.
#include <iostream>

#include <tflayout/annotation.h>
#include <tflayout/model_io.h>
#include <tflayout/pass_manager.h>
#include <tflayout/register_builtin_passes.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto loaded = tflayout::LoadModel(argv[1]);
  if (!loaded.ok()) {
    std::cerr << loaded.status() << "\n";
    return 1;
  }
  tflayout::PassRegistry registry;
  if (!tflayout::RegisterBuiltinPasses(registry).ok()) return 1;
  auto passes = tflayout::ParsePipeline(tflayout::kDefaultPipeline, registry);
  auto result = tflayout::RunPipeline(loaded->model, *passes);
  if (!result.ok()) {
    std::cerr << result.status() << "\n";
    return 1;
  }
  if (!tflayout::SaveModel(loaded->model, argv[2]).ok()) return 1;
  std::cout << "rewritten " << result->annotation.tensors_size() << "\n";
  return 0;
}
