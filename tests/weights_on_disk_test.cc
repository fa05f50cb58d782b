// Large embedded weights stay in the input file while the pipeline runs and are streamed into
// the output (lib/io/weights_on_disk.h, WriteStreamed without external data): the output must be
// byte for byte the one a full load writes (--no-stream), and anything unusual must load and
// fail exactly as a full load does.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/api/driver.h"
#include "lib/io/streamed_writer.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
#include "tflayout/pass_manager.h"
#include "lib/io/weights_on_disk.h"
#include "tflayout/register_builtin_passes.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;
using testing::ReadFile;
using testing::RunOpt;
using testing::WriteFile;

const PassRegistry& BuiltinRegistry() {
  static const PassRegistry* registry = [] {
    auto* r = new PassRegistry();
    EXPECT_TRUE(RegisterBuiltinPasses(*r).ok());
    return r;
  }();
  return *registry;
}

// X -> ConvTranspose -> Y with a 256 x 64 x 4 x 4 float weight: 1 MiB, just large enough.
testing::ConvTransposeSpec LargeSpec() {
  testing::ConvTransposeSpec spec;
  spec.in_channels = 256;
  spec.out_channels = 64;
  spec.kernel = {4, 4};
  spec.input_spatial = {3, 3};
  spec.with_bias = true;
  return spec;
}

onnx::TensorProto FloatTensor(const std::string& name, int64_t n) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(n);
  std::string raw(static_cast<size_t>(n) * 4, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 7 + 3);
  t.set_raw_data(raw);
  return t;
}

// The large model plus: an unused large initializer (copied through unchanged), a small one,
// and fields this ONNX does not know at the model, graph and tensor levels.
onnx::ModelProto RichLargeModel() {
  onnx::ModelProto model = testing::MakeConvTransposeModel(LargeSpec());
  onnx::GraphProto& graph = *model.mutable_graph();
  *graph.add_initializer() = FloatTensor("unused_large", 300000);
  *graph.add_initializer() = FloatTensor("unused_small", 10);
  model.GetReflection()->MutableUnknownFields(&model)->AddVarint(999, 42);
  graph.GetReflection()->MutableUnknownFields(&graph)->AddLengthDelimited(998, "future");
  onnx::TensorProto& w = *graph.mutable_initializer(0);
  w.GetReflection()->MutableUnknownFields(&w)->AddVarint(997, 7);
  w.set_doc_string("after raw_data in field order");
  return model;
}

// Runs tflayout-opt streamed and with --no-stream on `input`; both outputs must be identical.
void ExpectStreamedEqualsFullLoad(const std::string& input, std::vector<std::string> extra = {}) {
  const std::string dir = testing::MakeTempDir();
  const std::string before = ReadFile(input);
  std::vector<std::string> streamed = {input, "-o", dir + "/streamed.onnx"};
  std::vector<std::string> full = {input, "-o", dir + "/full.onnx", "--no-stream"};
  streamed.insert(streamed.end(), extra.begin(), extra.end());
  full.insert(full.end(), extra.begin(), extra.end());
  auto a = RunOpt(streamed);
  auto b = RunOpt(full);
  ASSERT_EQ(a.exit_code, kExitOk) << a.output;
  ASSERT_EQ(b.exit_code, kExitOk) << b.output;
  EXPECT_TRUE(ReadFile(dir + "/streamed.onnx") == ReadFile(dir + "/full.onnx"));
  EXPECT_TRUE(ReadFile(input) == before);
  EXPECT_FALSE(testing::FileExists(dir + "/streamed.onnx.data"));
}

TEST(WeightsOnDisk, LargeInitializersStayInTheFile) {
  const std::string dir = testing::MakeTempDir();
  const onnx::ModelProto model = RichLargeModel();
  WriteFile(dir + "/m.onnx", model.SerializeAsString());
  auto loaded = LoadModelWeightsOnDisk(dir + "/m.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->weights_file, std::filesystem::canonical(dir + "/m.onnx").string());
  const std::string file = ReadFile(dir + "/m.onnx");
  int on_disk = 0;
  for (int i = 0; i < model.graph().initializer_size(); ++i) {
    const onnx::TensorProto& original = model.graph().initializer(i);
    const onnx::TensorProto& t = loaded->model.graph().initializer(i);
    if (original.raw_data().size() < static_cast<size_t>(kWeightOnDiskBytes)) {
      EXPECT_EQ(t.SerializeAsString(), original.SerializeAsString()) << t.name();
      continue;
    }
    ++on_disk;
    auto ref = ParseExternalRef(t);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL);
    EXPECT_EQ(ref->location, "m.onnx");
    EXPECT_TRUE(file.substr(ref->offset, ref->length) == original.raw_data()) << t.name();
  }
  EXPECT_EQ(on_disk, 2);
}

TEST(WeightsOnDisk, SmallModelsLoadAsUsual) {
  const std::string dir = testing::MakeTempDir();
  const onnx::ModelProto model = testing::MakeConvTransposeModel({});
  WriteFile(dir + "/m.onnx", model.SerializeAsString());
  auto loaded = LoadModelWeightsOnDisk(dir + "/m.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->weights_file.empty());
  EXPECT_EQ(loaded->model.SerializeAsString(), model.SerializeAsString());
}

TEST(WeightsOnDisk, OutputIsByteForByteTheFullLoadOutput) {
  const std::string dir = testing::MakeTempDir();
  WriteFile(dir + "/m.onnx", RichLargeModel().SerializeAsString());
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx");
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx", {"--passes=conv-transpose-to-tf{form=custom-op}"});
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx", {"--passes="});
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx", {"--external-data=never"});
}

// Weights larger than a tile move tile by tile (lib/io/tiled_permute.h); with 4 KiB tiles the
// 1 MiB weight takes hundreds of them, and the files are still byte for byte the full load's,
// inline and as external data, forwards (to-tf) and back (from-tf).
TEST(WeightsOnDisk, TiledPermuteIsByteForByteTheFullLoadOutput) {
  ::setenv("TFLAYOUT_TEST_TILE_BYTES", "4096", 1);
  const std::string dir = testing::MakeTempDir();
  WriteFile(dir + "/m.onnx", RichLargeModel().SerializeAsString());
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx");
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx", {"--passes=conv-transpose-to-tf{form=custom-op}"});
  auto tf = RunOpt({dir + "/m.onnx", "-o", dir + "/tf.onnx"});
  ASSERT_EQ(tf.exit_code, kExitOk) << tf.output;
  ExpectStreamedEqualsFullLoad(dir + "/tf.onnx", {"--passes=conv-transpose-from-tf"});
  auto a = RunOpt({dir + "/m.onnx", "-o", dir + "/a.onnx", "--external-data=always"});
  auto b = RunOpt({dir + "/m.onnx", "-o", dir + "/b.onnx", "--external-data=always",
                   "--no-stream"});
  ::unsetenv("TFLAYOUT_TEST_TILE_BYTES");
  ASSERT_EQ(a.exit_code, kExitOk) << a.output;
  ASSERT_EQ(b.exit_code, kExitOk) << b.output;
  EXPECT_TRUE(ReadFile(dir + "/a.onnx.data") == ReadFile(dir + "/b.onnx.data"));
}

TEST(WeightsOnDisk, DilatedWeightReadByAPassStaysByteIdentical) {
  // materialize-conv-transpose-dilations reads the weight, so the store loads it back into
  // memory before the passes run: it must get its embedded form back (no data_location).
  const std::string dir = testing::MakeTempDir();
  testing::ConvTransposeSpec spec = LargeSpec();
  spec.dilations = {2, 2};
  WriteFile(dir + "/m.onnx", testing::MakeConvTransposeModel(spec).SerializeAsString());
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx");
  ExpectStreamedEqualsFullLoad(dir + "/m.onnx", {"--passes=conv-transpose-to-tf"});
}

TEST(WeightsOnDisk, SymlinkedModelFromAnotherFolder) {
  const std::string a = testing::MakeTempDir(), b = testing::MakeTempDir();
  WriteFile(a + "/m.onnx", RichLargeModel().SerializeAsString());
  std::filesystem::create_symlink(a + "/m.onnx", b + "/link.onnx");
  auto loaded = LoadModelWeightsOnDisk(b + "/link.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->weights_file.empty());  // loaded the ordinary way
  ExpectStreamedEqualsFullLoad(b + "/link.onnx");
}

TEST(WeightsOnDisk, ExternalDataAlwaysWritesTheDataFileAsAFullLoadDoes) {
  const std::string dir = testing::MakeTempDir();
  WriteFile(dir + "/m.onnx", RichLargeModel().SerializeAsString());
  auto a = RunOpt({dir + "/m.onnx", "-o", dir + "/a.onnx", "--external-data=always"});
  ASSERT_EQ(a.exit_code, kExitOk) << a.output;
  auto b = RunOpt({dir + "/m.onnx", "-o", dir + "/b.onnx", "--external-data=always",
                   "--no-stream"});
  ASSERT_EQ(b.exit_code, kExitOk) << b.output;
  ASSERT_TRUE(testing::FileExists(dir + "/a.onnx.data"));
  EXPECT_TRUE(ReadFile(dir + "/a.onnx.data") == ReadFile(dir + "/b.onnx.data"));
  // The model files differ only in the data file's name.
  auto ma = LoadModel(dir + "/a.onnx", LoadOptions{/*load_external_data=*/false});
  auto mb = LoadModel(dir + "/b.onnx", LoadOptions{/*load_external_data=*/false});
  ASSERT_TRUE(ma.ok() && mb.ok());
  for (onnx::TensorProto& t : *mb->model.mutable_graph()->mutable_initializer()) {
    for (auto& kv : *t.mutable_external_data()) {
      if (kv.key() == "location") kv.set_value("a.onnx.data");
    }
  }
  EXPECT_TRUE(ma->model.SerializeAsString() == mb->model.SerializeAsString());
}

// Inputs the scan does not take: the run must fail (or succeed) exactly as a full load.
void ExpectSameAsFullLoad(const std::string& input) {
  const std::string dir = testing::MakeTempDir();
  auto a = RunOpt({input, "-o", dir + "/out.onnx"});
  auto b = RunOpt({input, "-o", dir + "/out.onnx", "--no-stream"});
  EXPECT_EQ(a.exit_code, b.exit_code) << a.output << "\n" << b.output;
  EXPECT_EQ(a.output, b.output);
}

TEST(WeightsOnDisk, PayloadThatDisagreesWithDimsFailsAsAFullLoad) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = testing::MakeConvTransposeModel(LargeSpec());
  model.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->append("abcd");
  WriteFile(dir + "/m.onnx", model.SerializeAsString());
  ExpectSameAsFullLoad(dir + "/m.onnx");
  auto run = RunOpt({dir + "/m.onnx", "-o", dir + "/out.onnx"});
  EXPECT_NE(run.exit_code, kExitOk);
  EXPECT_FALSE(testing::FileExists(dir + "/out.onnx"));
}

TEST(WeightsOnDisk, TruncatedPayloadFailsAsAFullLoad) {
  const std::string dir = testing::MakeTempDir();
  const std::string bytes = testing::MakeConvTransposeModel(LargeSpec()).SerializeAsString();
  WriteFile(dir + "/m.onnx", bytes.substr(0, bytes.size() / 2));
  ExpectSameAsFullLoad(dir + "/m.onnx");
  auto run = RunOpt({dir + "/m.onnx", "-o", dir + "/out.onnx"});
  EXPECT_EQ(run.exit_code, kExitInput);
  EXPECT_THAT(run.output, HasSubstr("not a valid ONNX model"));
}

TEST(WeightsOnDisk, TypedDataNextToRawDataStaysInMemory) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = testing::MakeConvTransposeModel(LargeSpec());
  model.mutable_graph()->mutable_initializer(0)->add_float_data(1.0f);
  WriteFile(dir + "/m.onnx", model.SerializeAsString());
  auto loaded = LoadModelWeightsOnDisk(dir + "/m.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->weights_file.empty());
  ExpectSameAsFullLoad(dir + "/m.onnx");
}

// The fuzz target's check (fuzz/fuzz_weights_on_disk.cc) in process, with payloads of >= 16
// bytes left on disk: streamed inline output == full load's output.
void ExpectInProcessStreamedEqualsFullLoad(const std::string& input) {
  const std::string dir = testing::MakeTempDir();
  auto lazy = LoadModelWeightsOnDisk(input, /*min_payload_bytes=*/16);
  auto full = LoadModel(input, LoadOptions{/*load_external_data=*/false});
  ASSERT_EQ(lazy.ok(), full.ok());
  if (!lazy.ok() || lazy->weights_file.empty()) return;
  auto store = ExternalDataStore::Create(lazy->model, lazy->base_dir);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const std::string& file : (*store)->files()) {
    if (file != lazy->weights_file) return;  // real external data: output stays external
  }
  (*store)->set_embedded_file(lazy->weights_file);
  auto passes_a = ParsePipeline(kDefaultPipeline, BuiltinRegistry());
  auto passes_b = ParsePipeline(kDefaultPipeline, BuiltinRegistry());
  ASSERT_TRUE(passes_a.ok() && passes_b.ok());
  PipelineOptions with_store;
  with_store.weight_store = store->get();
  auto a = RunPipeline(lazy->model, *passes_a, with_store);
  auto b = RunPipeline(full->model, *passes_b);
  ASSERT_EQ(a.ok(), b.ok());
  if (!a.ok()) return;
  SaveOptions save;
  save.protected_paths = {input};
  ASSERT_TRUE(WriteStreamed(lazy->model, **store, dir + "/a.onnx", save).ok());
  ASSERT_TRUE(SaveModel(full->model, dir + "/b.onnx", save).ok());
  EXPECT_TRUE(ReadFile(dir + "/a.onnx") == ReadFile(dir + "/b.onnx")) << input;
}

TEST(WeightsOnDisk, RegressionInputsStreamAsTheyLoad) {
  for (const std::string& name : testing::ListDir(testing::SourcePath("tests/regressions"))) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".onnx") continue;
    ExpectInProcessStreamedEqualsFullLoad(testing::SourcePath("tests/regressions/" + name));
  }
  for (const std::string& name : testing::ListDir(testing::SourcePath("models"))) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".onnx") continue;
    ExpectInProcessStreamedEqualsFullLoad(testing::SourcePath("models/" + name));
  }
}

}  // namespace
}  // namespace tflayout
