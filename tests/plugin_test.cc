// Pass plugins through tflayout-opt --load-pass-plugin, as a plugin author would use them.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "lib/api/driver.h"
#include "tflayout/plugin.h"
#include "tflayout/model_io.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

TEST(Plugin, LoadsAndRunsPluginPass) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  auto list = testing::RunOpt({"--load-pass-plugin=" SAMPLE_PLUGIN_PATH, "--list-passes"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("strip-doc-strings\t"));
  auto help = testing::RunOpt({"--load-pass-plugin", SAMPLE_PLUGIN_PATH, "--help"});
  EXPECT_THAT(help.output, HasSubstr("strip-doc-strings"));

  auto run = testing::RunOpt({input, "-o", dir + "/o.onnx", "--load-pass-plugin=" SAMPLE_PLUGIN_PATH,
                              "--passes=strip-doc-strings{graphs=all},conv-transpose-to-tf",
                              "--pass-statistics"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("strip-doc-strings"));
  EXPECT_THAT(run.output, HasSubstr("doc-strings-cleared"));
  auto out = LoadModel(dir + "/o.onnx");
  ASSERT_TRUE(out.ok());
  for (const auto& node : out->model.graph().node()) EXPECT_EQ(node.doc_string(), "");
}

TEST(Plugin, PluginOptionsAreTypedAndChecked) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  auto run = testing::RunOpt({input, "-o", dir + "/o.onnx", "--load-pass-plugin=" SAMPLE_PLUGIN_PATH,
                              "--passes=strip-doc-strings{graphs=some}"});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.output;
  EXPECT_THAT(run.output, HasSubstr("graphs"));
  EXPECT_THAT(run.output, HasSubstr("some"));
  EXPECT_FALSE(testing::FileExists(dir + "/o.onnx"));
}

TEST(Plugin, WrongApiVersionIsAClearError) {
  auto run = testing::RunOpt({"--load-pass-plugin=" WRONG_VERSION_PLUGIN_PATH, "--list-passes"});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("plugin API version ", TFLAYOUT_PASS_PLUGIN_API_VERSION + 1)));
  EXPECT_THAT(run.output, HasSubstr("future-plugin"));
}

TEST(Plugin, MissingLibraryIsAClearError) {
  auto run = testing::RunOpt({"--load-pass-plugin=/nonexistent/libnothing.so", "--list-passes"});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_THAT(run.output, HasSubstr("/nonexistent/libnothing.so"));
}

}  // namespace
}  // namespace tflayout
