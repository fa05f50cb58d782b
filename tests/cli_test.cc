// tflayout-opt as a user runs it: the README's command on a bundled model, flags, exit codes.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/annotation.h"
#include "lib/api/driver.h"
#include "tflayout/model_io.h"
#include "lib/ir/verify.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;
using testing::RunOpt;

TEST(Cli, DefaultPipelineOnBundledModel) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  const std::string before = testing::ReadFile(input);
  auto result = RunOpt({input, "-o", dir + "/out.onnx", "--pass-statistics", "--pass-timing"});
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  EXPECT_THAT(result.output, HasSubstr("rewrote 4 of 4 ConvTranspose weight(s) for 4 node(s)"));
  EXPECT_THAT(result.output, HasSubstr("weights-rewritten = 4"));
  EXPECT_THAT(result.output, HasSubstr("conv-transpose-to-tf  0."));
  EXPECT_THAT(result.output, HasSubstr("(load input)  0."));
  EXPECT_THAT(result.output, HasSubstr("(write output)  0."));
  EXPECT_EQ(testing::ReadFile(input), before);
  auto out = LoadModel(dir + "/out.onnx");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(VerifyModel(out->model).ok());
  EXPECT_EQ(ReadAnnotation(out->model)->tensors_size(), 4);
}

// A weight streamed from the input file (>= 1 MiB) is written byte for byte the same with one
// thread, with the writer thread (the default), and with --fsync, as when the model is loaded
// whole (--no-stream).
TEST(Cli, StreamedOutputIsTheSameWithAnyThreadsAndWithFsync) {
  const std::string dir = testing::MakeTempDir();
  testing::ConvTransposeSpec spec;
  spec.in_channels = 256;
  spec.out_channels = 128;
  spec.kernel = {4, 4};
  testing::WriteFile(dir + "/in.onnx", testing::MakeConvTransposeModel(spec).SerializeAsString());
  auto run = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> args = {dir + "/in.onnx", "-o", dir + "/out.onnx", "-q"};
    args.insert(args.end(), flags.begin(), flags.end());
    auto result = RunOpt(args);
    EXPECT_EQ(result.exit_code, kExitOk) << result.output;
    return testing::ReadFile(dir + "/out.onnx");
  };
  const std::string whole = run({"--no-stream"});
  ASSERT_GT(whole.size(), size_t{2} << 20);
  EXPECT_TRUE(run({}) == whole);
  EXPECT_TRUE(run({"--threads=1"}) == whole);
  EXPECT_TRUE(run({"--threads=3"}) == whole);
  EXPECT_TRUE(run({"--fsync"}) == whole);
}

TEST(Cli, HelpListsPassesWithSummariesAndOptions) {
  auto help = RunOpt({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("conv-transpose-to-tf"));
  EXPECT_THAT(help.output, HasSubstr("{form=compensate|custom-op}"));
  EXPECT_THAT(help.output, HasSubstr("exit codes"));
  auto list = RunOpt({"--list-passes"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.output, HasSubstr("materialize-conv-transpose-dilations\t"));
}

TEST(Cli, UsageErrorsExitWithOne) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  EXPECT_EQ(RunOpt({input}).exit_code, kExitUsage);
  EXPECT_EQ(RunOpt({input, "-o", dir + "/o.onnx", "--bogus"}).exit_code, kExitUsage);
  auto bad_pass = RunOpt({input, "-o", dir + "/o.onnx", "--passes=frobnicate"});
  EXPECT_EQ(bad_pass.exit_code, kExitUsage);
  EXPECT_THAT(bad_pass.output, HasSubstr("unknown pass 'frobnicate'"));
  auto same = RunOpt({input, "-o", input});
  EXPECT_EQ(same.exit_code, kExitUsage);
  EXPECT_THAT(same.output, HasSubstr("output path is the input path"));
  EXPECT_TRUE(testing::ListDir(dir).empty());
}

TEST(Cli, TargetChoosesThePipelineForTheConsumer) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  auto help = RunOpt({"--help"});
  EXPECT_THAT(help.output, HasSubstr("--target=CONSUMER"));
  EXPECT_THAT(help.output, HasSubstr("onnx2tf"));
  // onnxruntime is the default pipeline: the same bytes.
  ASSERT_EQ(RunOpt({input, "-o", dir + "/default.onnx", "-q"}).exit_code, kExitOk);
  ASSERT_EQ(RunOpt({input, "-o", dir + "/ort.onnx", "--target=onnxruntime", "-q"}).exit_code, kExitOk);
  EXPECT_EQ(testing::ReadFile(dir + "/ort.onnx"), testing::ReadFile(dir + "/default.onnx"));
  // onnx-tf is the custom-op form.
  ASSERT_EQ(RunOpt({input, "-o", dir + "/onnx_tf.onnx", "--target", "onnx-tf"}).exit_code, kExitOk);
  EXPECT_THAT(testing::ReadFile(dir + "/onnx_tf.onnx"), HasSubstr("ConvTransposeTF"));
  // onnx2tf keeps standard nodes; the summary says what its passes did.
  ASSERT_EQ(RunOpt({input, "-o", dir + "/onnx2tf.onnx", "--target=onnx2tf"}).exit_code, kExitOk);
  EXPECT_THAT(testing::ReadFile(dir + "/onnx2tf.onnx"), ::testing::Not(HasSubstr("ConvTransposeTF")));
  auto decoder = RunOpt({testing::SourcePath("models/decoder_3d.onnx"), "-o",
                         dir + "/decoder.onnx", "--target=onnx2tf"});
  ASSERT_EQ(decoder.exit_code, kExitOk) << decoder.output;
  EXPECT_THAT(decoder.output, HasSubstr("changed, no weight stored in TF layout"));
  EXPECT_THAT(decoder.output, HasSubstr("split-conv-transpose-bias: changed (biases-split 2)"));
  // Usage errors.
  auto unknown = RunOpt({input, "-o", dir + "/x.onnx", "--target=tensorrt"});
  EXPECT_EQ(unknown.exit_code, kExitUsage);
  EXPECT_THAT(unknown.output, HasSubstr("unknown target 'tensorrt' (known: onnxruntime, onnx-tf, onnx2tf)"));
  auto both = RunOpt({input, "-o", dir + "/x.onnx", "--target=onnx2tf", "--passes="});
  EXPECT_EQ(both.exit_code, kExitUsage);
  EXPECT_THAT(both.output, HasSubstr("--target and --passes exclude each other"));
  EXPECT_FALSE(testing::FileExists(dir + "/x.onnx"));
}

TEST(Cli, MissingInputAndUnwritableOutput) {
  const std::string dir = testing::MakeTempDir();
  auto missing = RunOpt({dir + "/nope.onnx", "-o", dir + "/o.onnx"});
  EXPECT_EQ(missing.exit_code, kExitInput);
  EXPECT_THAT(missing.output, HasSubstr("nope.onnx"));
  const std::string input = testing::SourcePath("models/dcgan_generator.onnx");
  auto unwritable = RunOpt({input, "-o", dir + "/no/such/dir/o.onnx"});
  EXPECT_EQ(unwritable.exit_code, kExitOutput);
  EXPECT_TRUE(testing::ListDir(dir).empty());
}

TEST(Cli, StdinToStdout) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = testing::SourcePath("models/decoder_3d.onnx");
  const std::string command = std::string("'") + TFLAYOUT_OPT_PATH + "' - -o - -q < '" + input +
                              "' > '" + dir + "/piped.onnx'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto file = RunOpt({input, "-o", dir + "/file.onnx", "-q"});
  ASSERT_EQ(file.exit_code, 0) << file.output;
  EXPECT_EQ(testing::ReadFile(dir + "/piped.onnx"), testing::ReadFile(dir + "/file.onnx"));
}

TEST(Cli, PrintIrAfterPass) {
  const std::string dir = testing::MakeTempDir();
  auto result = RunOpt({testing::SourcePath("models/vocoder_upsampler_1d.onnx"), "-o",
                        dir + "/o.onnx", "--print-ir-after=conv-transpose-to-tf"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("IR after conv-transpose-to-tf"));
  EXPECT_THAT(result.output, HasSubstr("Transpose"));
}

TEST(Cli, DefaultPipelineTwiceChangesNothingTheSecondTime) {
  for (const char* name : {"dcgan_generator", "vocoder_upsampler_1d", "decoder_3d",
                           "grouped_deconv", "unet_decoder"}) {
    const std::string dir = testing::MakeTempDir();
    auto once = RunOpt({testing::SourcePath(std::string("models/") + name + ".onnx"), "-o",
                        dir + "/once.onnx"});
    ASSERT_EQ(once.exit_code, 0) << name << ": " << once.output;
    auto twice = RunOpt({dir + "/once.onnx", "-o", dir + "/twice.onnx"});
    ASSERT_EQ(twice.exit_code, 0) << name << ": " << twice.output;
    EXPECT_THAT(twice.output, HasSubstr("unchanged")) << name;
    EXPECT_EQ(testing::ReadFile(dir + "/once.onnx"), testing::ReadFile(dir + "/twice.onnx")) << name;
  }
}

TEST(Cli, ReportFileDescribesTheRun) {
  const std::string dir = testing::MakeTempDir();
  auto result = RunOpt({testing::SourcePath("models/unet_decoder.onnx"), "-o", dir + "/o.onnx",
                        "--report=" + dir + "/report.json", "-q"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "");  // -q
  const std::string report = testing::ReadFile(dir + "/report.json");
  EXPECT_THAT(report, HasSubstr("\"name\":\"conv-transpose-to-tf\""));
  EXPECT_THAT(report, HasSubstr("\"bytes_permuted\""));
  EXPECT_THAT(report, HasSubstr("\"source\":\"up1.weight\""));
  EXPECT_THAT(report, HasSubstr("\"seconds\""));
  EXPECT_THAT(report, HasSubstr("\"load_seconds\""));
  EXPECT_THAT(report, HasSubstr("\"write_seconds\""));
}

// On a terminal, a model over 64 MiB gets progress lines; piped output stays clean.
TEST(Cli, ProgressOnATerminalForLargeModels) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  const std::string dir = testing::MakeTempDir();
  testing::ConvTransposeSpec spec;
  spec.in_channels = 512;
  spec.out_channels = 512;
  spec.kernel = {8, 8};  // 512*512*64 floats = 64 MiB, plus the graph
  testing::WriteFile(dir + "/big.onnx", testing::MakeConvTransposeModel(spec).SerializeAsString());
  const std::string command = std::string("script -qec \"'") + TFLAYOUT_OPT_PATH + "' '" + dir +
                              "/big.onnx' -o '" + dir + "/out.onnx'\" /dev/null";
  const testing::CommandResult terminal = testing::RunShell(command);
  ASSERT_EQ(terminal.exit_code, 0) << terminal.output;
  EXPECT_THAT(terminal.output, HasSubstr("[tflayout-opt] loading"));
  EXPECT_THAT(terminal.output, HasSubstr("[tflayout-opt] running passes"));
  auto piped = RunOpt({dir + "/big.onnx", "-o", dir + "/out2.onnx"});
  ASSERT_EQ(piped.exit_code, 0) << piped.output;
  EXPECT_THAT(piped.output, ::testing::Not(HasSubstr("[tflayout-opt]")));
}

TEST(Cli, CustomOpFormOnEveryBundledModel) {
  for (const char* name : {"dcgan_generator", "vocoder_upsampler_1d", "decoder_3d",
                           "grouped_deconv", "unet_decoder"}) {
    const std::string dir = testing::MakeTempDir();
    auto result = RunOpt({testing::SourcePath(std::string("models/") + name + ".onnx"), "-o",
                          dir + "/o.onnx",
                          "--passes=resolve-conv-transpose-pads,materialize-conv-transpose-"
                          "dilations,conv-transpose-to-tf{form=custom-op}"});
    ASSERT_EQ(result.exit_code, 0) << name << ": " << result.output;
    auto out = LoadModel(dir + "/o.onnx");
    ASSERT_TRUE(out.ok());
    for (const auto& node : out->model.graph().node()) {
      EXPECT_NE(node.op_type(), "ConvTranspose") << name << ": " << node.name();
    }
  }
}

}  // namespace
}  // namespace tflayout
