// The C API as a C caller uses it: bytes in, bytes out, files, errors as strings.
#include "tflayout/targets.h"
#include "tflayout/c_api.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/annotation.h"
#include "tflayout/pass.h"
#include "tflayout/register_builtin_passes.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

TEST(CApi, VersionAndBytesRoundTrip) {
  EXPECT_EQ(tflayout_api_version(), TFLAYOUT_C_API_VERSION);
  EXPECT_STRNE(tflayout_version(), "");
  const std::string input = testing::ReadFile(testing::SourcePath("models/unet_decoder.onnx"));
  void* out = nullptr;
  size_t size = 0;
  char* error = nullptr;
  ASSERT_EQ(tflayout_run_bytes(input.data(), input.size(), nullptr, nullptr, &out, &size, &error),
            TFLAYOUT_OK)
      << error;
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromArray(out, static_cast<int>(size)));
  tflayout_free(out);
  EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 2);

  // The empty pipeline gives the same bytes back.
  ASSERT_EQ(tflayout_run_bytes(input.data(), input.size(), "", nullptr, &out, &size, &error),
            TFLAYOUT_OK);
  EXPECT_EQ(std::string(static_cast<char*>(out), size), input);
  tflayout_free(out);
}

TEST(CApi, ErrorsAreStringsWithCategories) {
  void* out = nullptr;
  size_t size = 0;
  char* error = nullptr;
  const std::string garbage = "not a model";
  EXPECT_EQ(tflayout_run_bytes(garbage.data(), garbage.size(), nullptr, nullptr, &out, &size, &error),
            TFLAYOUT_ERROR_INPUT);
  ASSERT_NE(error, nullptr);
  EXPECT_THAT(error, HasSubstr("not a valid ONNX model"));
  tflayout_free(error);
  const std::string input = testing::ReadFile(testing::SourcePath("models/unet_decoder.onnx"));
  EXPECT_EQ(tflayout_run_bytes(input.data(), input.size(), "nope", nullptr, &out, &size, &error),
            TFLAYOUT_ERROR_USAGE);
  EXPECT_THAT(error, HasSubstr("unknown pass 'nope'"));
  tflayout_free(error);
  EXPECT_EQ(out, nullptr);
}

TEST(CApi, TargetPipelinesNameTheConsumers) {
  EXPECT_STREQ(tflayout_target_pipeline("onnxruntime"), kDefaultPipeline);
  EXPECT_THAT(tflayout_target_pipeline("onnx-tf"), HasSubstr("form=custom-op"));
  ASSERT_NE(tflayout_target_pipeline("onnx2tf"), nullptr);
  EXPECT_EQ(tflayout_target_pipeline("tensorrt"), nullptr);
  EXPECT_EQ(tflayout_target_pipeline(nullptr), nullptr);
  // The onnx2tf pipeline leaves every ConvTranspose standard and every weight in ONNX layout.
  const std::string input = testing::ReadFile(testing::SourcePath("models/grouped_deconv.onnx"));
  void* out = nullptr;
  size_t size = 0;
  char* error = nullptr;
  ASSERT_EQ(tflayout_run_bytes(input.data(), input.size(), tflayout_target_pipeline("onnx2tf"),
                               nullptr, &out, &size, &error),
            TFLAYOUT_OK)
      << error;
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromArray(out, static_cast<int>(size)));
  tflayout_free(out);
  for (const auto& node : model.graph().node()) {
    EXPECT_NE(node.domain(), "tflayout");
    EXPECT_NE(node.op_type(), "Transpose");
  }
  EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 0);
}

TEST(CApi, FileToFile) {
  const std::string dir = testing::MakeTempDir();
  char* error = nullptr;
  const std::string input = testing::SourcePath("models/grouped_deconv.onnx");
  ASSERT_EQ(tflayout_run_file(input.c_str(), (dir + "/o.onnx").c_str(), nullptr, &error),
            TFLAYOUT_OK)
      << error;
  EXPECT_TRUE(testing::FileExists(dir + "/o.onnx"));
  EXPECT_EQ(tflayout_run_file(input.c_str(), input.c_str(), nullptr, &error), TFLAYOUT_ERROR_USAGE);
  tflayout_free(error);
  EXPECT_EQ(tflayout_run_file((dir + "/missing.onnx").c_str(), (dir + "/p.onnx").c_str(), nullptr,
                              &error),
            TFLAYOUT_ERROR_INPUT);
  EXPECT_THAT(error, HasSubstr("missing.onnx"));
  tflayout_free(error);
}

// A model with a 1 MiB weight takes the streamed path (lib/io/model_files.h): the file written is
// the one tflayout-opt writes, byte for byte, with a custom-op pipeline as well.
TEST(CApi, FileToFileStreamsLargeWeightsAsTheTool) {
  const std::string dir = testing::MakeTempDir();
  testing::ConvTransposeSpec spec;
  spec.in_channels = 256;
  spec.out_channels = 64;
  spec.kernel = {4, 4};
  const std::string input = dir + "/in.onnx";
  testing::WriteFile(input, testing::MakeConvTransposeModel(spec).SerializeAsString());
  const std::string pipeline = "conv-transpose-to-tf{form=custom-op}";
  char* error = nullptr;
  ASSERT_EQ(tflayout_run_file(input.c_str(), (dir + "/c.onnx").c_str(), pipeline.c_str(), &error),
            TFLAYOUT_OK)
      << error;
  auto tool = testing::RunOpt({input, "-o", dir + "/t.onnx", "--passes=" + pipeline, "--no-stream"});
  ASSERT_EQ(tool.exit_code, 0) << tool.output;
  EXPECT_TRUE(testing::ReadFile(dir + "/c.onnx") == testing::ReadFile(dir + "/t.onnx"));
}

TEST(CApi, EnumeratesPassesTargetsAndTheDefaultPipeline) {
  EXPECT_STREQ(tflayout_default_pipeline(), kDefaultPipeline);
  PassRegistry registry;
  ASSERT_TRUE(RegisterBuiltinPasses(registry).ok());
  const std::vector<std::string> names = registry.Names();
  ASSERT_FALSE(names.empty());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_NE(tflayout_pass_name(i), nullptr) << i;
    EXPECT_EQ(tflayout_pass_name(i), names[i]);
    auto pass = registry.Create(names[i]);
    ASSERT_TRUE(pass.ok());
    EXPECT_EQ(tflayout_pass_summary(i), (*pass)->Summary());
  }
  EXPECT_EQ(tflayout_pass_name(names.size()), nullptr);
  EXPECT_EQ(tflayout_pass_summary(names.size()), nullptr);
  std::vector<std::string> targets;
  for (size_t i = 0; tflayout_target_name(i) != nullptr; ++i) {
    targets.push_back(tflayout_target_name(i));
    EXPECT_NE(tflayout_target_pipeline(tflayout_target_name(i)), nullptr);
  }
  EXPECT_THAT(targets, ::testing::ElementsAre("onnxruntime", "onnx-tf", "onnx2tf"));
}

}  // namespace
}  // namespace tflayout
