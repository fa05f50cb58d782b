// Model I/O: lossless round trips, external data read/write with confined paths, atomic saves.
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/model_io.h"
#include "tflayout/tensor.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A model that uses every part of ModelProto the pipeline must carry through untouched.
onnx::ModelProto RichModel() {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.set_doc_string("model doc");
  model.set_domain("org.example");
  model.set_model_version(7);
  auto* meta = model.add_metadata_props();
  meta->set_key("author");
  meta->set_value("tests");
  auto* fn = model.add_functions();
  fn->set_name("Double");
  fn->set_domain("org.example");
  fn->add_input("x");
  fn->add_output("y");
  auto* fn_node = fn->add_node();
  fn_node->set_op_type("Add");
  fn_node->add_input("x");
  fn_node->add_input("x");
  fn_node->add_output("y");
  auto* fn_opset = fn->add_opset_import();
  fn_opset->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_doc_string("graph doc");
  graph->mutable_node(0)->set_doc_string("node doc");
  auto* vi = graph->add_value_info();
  vi->set_name("unused_info");
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* sparse = graph->add_sparse_initializer();
  sparse->add_dims(10);
  sparse->mutable_values()->set_name("sparse");
  sparse->mutable_values()->set_data_type(onnx::TensorProto::FLOAT);
  sparse->mutable_values()->add_dims(2);
  sparse->mutable_values()->add_float_data(1.5f);
  sparse->mutable_values()->add_float_data(2.5f);
  sparse->mutable_indices()->set_data_type(onnx::TensorProto::INT64);
  sparse->mutable_indices()->add_dims(2);
  sparse->mutable_indices()->add_int64_data(1);
  sparse->mutable_indices()->add_int64_data(7);
  // A field number this ONNX does not know (a newer schema's field): kept as unknown field.
  model.GetReflection()->MutableUnknownFields(&model)->AddVarint(999, 42);
  graph->GetReflection()->MutableUnknownFields(graph)->AddLengthDelimited(998, "future");
  return model;
}

TEST(ModelIo, EmptyPipelineRoundTripLosesNothing) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = RichModel();
  const std::string bytes = model.SerializeAsString();
  testing::WriteFile(dir + "/in.onnx", bytes);

  const auto result = testing::RunOpt({dir + "/in.onnx", "-o", dir + "/out.onnx", "--passes="});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(testing::ReadFile(dir + "/out.onnx"), bytes);
}

TEST(ModelIo, UnknownFieldsSurviveLoadAndSave) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = RichModel();
  ASSERT_TRUE(SaveModel(model, dir + "/m.onnx").ok());
  auto loaded = LoadModel(dir + "/m.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model.unknown_fields().field_count(), 1);
  EXPECT_EQ(loaded->model.graph().unknown_fields().field_count(), 1);
  EXPECT_EQ(loaded->model.SerializeAsString(), model.SerializeAsString());
}

TEST(ModelIo, ExternalDataIsReadAndWrittenBack) {
  const std::string dir = testing::MakeTempDir();
  testing::ConvTransposeSpec spec;
  spec.storage = testing::WeightStorage::kExternal;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec, dir);
  ASSERT_TRUE(SaveModel(model, dir + "/in.onnx").ok());

  auto loaded = LoadModel(dir + "/in.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const onnx::TensorProto& w = loaded->model.graph().initializer(0);
  EXPECT_EQ(StorageOf(w), TensorStorage::kRaw);
  ASSERT_EQ(loaded->external_files.size(), 1u);
  EXPECT_EQ(loaded->external_files[0], fs::canonical(dir + "/weights.bin").string());
  const std::string weights = w.raw_data();

  const std::string out_dir = testing::MakeTempDir();
  SaveOptions options;
  options.use_external_data = true;
  ASSERT_TRUE(SaveModel(loaded->model, out_dir + "/out.onnx", options).ok());
  // The caller's model is unchanged by saving.
  EXPECT_EQ(StorageOf(loaded->model.graph().initializer(0)), TensorStorage::kRaw);
  EXPECT_THAT(testing::ListDir(out_dir), ::testing::ElementsAre("out.onnx", "out.onnx.data"));

  auto again = LoadModel(out_dir + "/out.onnx");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model.graph().initializer(0).raw_data(), weights);
}

TEST(ModelIo, ExternalLocationsAreConfinedToTheModelFolder) {
  const std::string dir = testing::MakeTempDir();
  const std::string outside = testing::MakeTempDir();
  testing::WriteFile(outside + "/secret.bin", std::string(16, 'x'));
  fs::create_symlink(outside + "/secret.bin", dir + "/link.bin");
  testing::WriteFile(dir + "/ok.bin", "data");

  EXPECT_TRUE(ResolveExternalLocation(dir, "ok.bin").ok());
  for (const std::string& bad : {outside + "/secret.bin", std::string("../secret.bin"),
                                 std::string("sub/../../secret.bin"), std::string("link.bin"),
                                 std::string("")}) {
    auto resolved = ResolveExternalLocation(dir, bad);
    EXPECT_FALSE(resolved.ok()) << bad;
  }
  EXPECT_THAT(std::string(ResolveExternalLocation(dir, "link.bin").status().message()),
              HasSubstr("outside the model's folder"));
  EXPECT_TRUE(absl::IsNotFound(ResolveExternalLocation(dir, "missing.bin").status()));
}

TEST(ModelIo, SaveIsAtomicAndRefusesToOverwriteInputs) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = RichModel();
  testing::WriteFile(dir + "/in.onnx", "original");
  SaveOptions options;
  options.protected_paths = {dir + "/in.onnx"};
  absl::Status st = SaveModel(model, dir + "/in.onnx", options);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(testing::ReadFile(dir + "/in.onnx"), "original");
  // A folder that does not exist: nothing is created anywhere.
  EXPECT_FALSE(SaveModel(model, dir + "/missing/out.onnx").ok());
  EXPECT_THAT(testing::ListDir(dir), ::testing::ElementsAre("in.onnx"));
}

TEST(ModelIo, ParseRejectsGarbageWithTheName) {
  auto empty = ParseModel("", "", "thing.onnx");
  EXPECT_FALSE(empty.ok());
  auto garbage = ParseModel("\xff\xff\xff\xff garbage", "", "thing.onnx");
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(std::string(garbage.status().message()), HasSubstr("thing.onnx"));
}

TEST(ModelIo, SerializeRefusesMessagesOver2GiB) {
  onnx::ModelProto model = RichModel();
  auto* big = model.mutable_graph()->add_initializer();
  big->set_name("big");
  big->set_data_type(onnx::TensorProto::UINT8);
  big->add_dims(int64_t{1} << 31);
  big->mutable_raw_data()->resize(size_t{1} << 31);
  auto bytes = SerializeModel(model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_THAT(std::string(bytes.status().message()), HasSubstr("2 GiB"));
}

}  // namespace
}  // namespace tflayout
