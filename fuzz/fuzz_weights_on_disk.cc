// Fuzz target (iii): embedded weights left in the input file (lib/io/weights_on_disk.h) against a
// full load. The input is written to a file and loaded both ways, with payloads of >= 16 bytes
// left on disk so that small inputs reach the wire-format scan. Both loads must agree on
// success; when they succeed, the default pipeline runs on both and the streamed inline
// output (WriteStreamed) must be byte for byte the full load's SaveModel output.
// TFLAYOUT_FUZZ_KEEP=1 leaves the two outputs as /tmp/wod_a.onnx (streamed) and
// /tmp/wod_b.onnx (full load) for inspection of a finding.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz/fuzz_common.h"
#include "lib/io/streamed_writer.h"
#include "lib/io/file_util.h"
#include "tflayout/targets.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
#include "tflayout/pass_manager.h"
#include "lib/io/weights_on_disk.h"

namespace {


std::string ReadAll(const std::string& path) {
  std::string bytes;
  tflayout::FileDescriptor fd(::open(path.c_str(), O_RDONLY));
  char buf[1 << 16];
  for (ssize_t n; fd.get() >= 0 && (n = ::read(fd.get(), buf, sizeof buf)) > 0;) {
    bytes.append(buf, static_cast<size_t>(n));
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tflayout::fuzz::BaseDir();
  (void)tflayout::fuzz::BuiltinRegistry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tflayout;
  const std::string dir = fuzz::BaseDir();
  const std::string input = dir + "/wod_in.onnx";
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::Require(WriteFileAtomically(input, bytes).ok(), "write input");
  absl::StatusOr<LoadedModel> lazy = LoadModelWeightsOnDisk(input, /*min_payload_bytes=*/16);
  absl::StatusOr<LoadedModel> full = LoadModel(input, LoadOptions{/*load_external_data=*/false});
  fuzz::Require(lazy.ok() == full.ok(), "the two loads disagree",
                std::string(lazy.ok() ? full.status().message() : lazy.status().message()));
  if (!lazy.ok() || lazy->weights_file.empty()) return 0;

  auto store = ExternalDataStore::Create(lazy->model, lazy->base_dir);
  if (!store.ok() || (*store)->has_overlaps()) return 0;
  // With real external data too, tflayout-opt keeps the output external and a full load
  // would have to read weights.bin: another comparison (tests/weights_on_disk_test.cc).
  for (const std::string& file : (*store)->files()) {
    if (file != lazy->weights_file) return 0;
  }
  (*store)->set_embedded_file(lazy->weights_file);
  auto passes_a = ParsePipeline(kDefaultPipeline, fuzz::BuiltinRegistry());
  auto passes_b = ParsePipeline(kDefaultPipeline, fuzz::BuiltinRegistry());
  PipelineOptions with_store;
  with_store.weight_store = store->get();
  absl::StatusOr<PipelineResult> a = RunPipeline(lazy->model, *passes_a, with_store);
  absl::StatusOr<PipelineResult> b = RunPipeline(full->model, *passes_b);
  // External tensors the full load left on disk, or a pass that reads weights the store keeps
  // on disk, can make the runs differ; only compare outputs when both succeed.
  if (!a.ok() || !b.ok()) return 0;
  SaveOptions save;
  save.protected_paths = {input};
  const absl::Status wa = WriteStreamed(lazy->model, **store, dir + "/wod_a.onnx", save);
  const absl::Status wb = SaveModel(full->model, dir + "/wod_b.onnx", save);
  fuzz::Require(wa.ok() == wb.ok(), "the two writes disagree",
                std::string(wa.ok() ? wb.message() : wa.message()));
  if (!wa.ok()) return 0;
  if (std::getenv("TFLAYOUT_FUZZ_KEEP") != nullptr) {
    (void)WriteFileAtomically("/tmp/wod_a.onnx", ReadAll(dir + "/wod_a.onnx"));
    (void)WriteFileAtomically("/tmp/wod_b.onnx", ReadAll(dir + "/wod_b.onnx"));
  }
  fuzz::Require(ReadAll(dir + "/wod_a.onnx") == ReadAll(dir + "/wod_b.onnx"),
                "streamed inline output differs from the full load's");
  return 0;
}
