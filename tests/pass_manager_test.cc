// Pass framework: pipeline parsing, options, registry, statistics, IR printing, verification.
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/pass_manager.h"
#include "tflayout/register_builtin_passes.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

PassRegistry Builtins() {
  PassRegistry registry;
  EXPECT_TRUE(RegisterBuiltinPasses(registry).ok());
  return registry;
}

TEST(Pipeline, ParsesNamesAndOptions) {
  PassRegistry registry = Builtins();
  auto passes = ParsePipeline(
      " resolve-conv-transpose-pads , conv-transpose-to-tf{ form = custom-op }", registry);
  ASSERT_TRUE(passes.ok()) << passes.status();
  ASSERT_EQ(passes->size(), 2u);
  EXPECT_EQ((*passes)[0]->Name(), "resolve-conv-transpose-pads");
  EXPECT_EQ((*passes)[1]->OptionText("form"), "custom-op");
  auto empty = ParsePipeline("", registry);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Pipeline, ErrorsNameTheProblem) {
  PassRegistry registry = Builtins();
  EXPECT_THAT(std::string(ParsePipeline("no-such-pass", registry).status().message()),
              HasSubstr("unknown pass 'no-such-pass'"));
  EXPECT_THAT(std::string(ParsePipeline("conv-transpose-to-tf{form=nhwc}", registry)
                              .status().message()),
              HasSubstr("compensate|custom-op"));
  EXPECT_THAT(std::string(ParsePipeline("conv-transpose-to-tf{color=red}", registry)
                              .status().message()),
              HasSubstr("has no option 'color'"));
  EXPECT_FALSE(ParsePipeline("conv-transpose-to-tf{form=compensate", registry).ok());
  EXPECT_FALSE(ParsePipeline("conv-transpose-to-tf,", registry).ok());
  EXPECT_FALSE(ParsePipeline("conv-transpose-to-tf{form}", registry).ok());
}

TEST(Registry, RejectsDuplicateNamesAndCreatesFreshInstances) {
  PassRegistry registry = Builtins();
  EXPECT_THAT(registry.Names(),
              ElementsAre("resolve-conv-transpose-pads", "materialize-conv-transpose-dilations",
                          "conv-transpose-to-tf", "conv-transpose-from-tf",
                          "split-conv-transpose-bias",
                          "remove-initializers-from-inputs", "fold-conv-transpose-weights",
                          "inline-conv-transpose-functions", "conv-to-tf", "gemm-to-tf"));
  EXPECT_TRUE(absl::IsAlreadyExists(RegisterBuiltinPasses(registry)));
  auto a = registry.Create("conv-transpose-to-tf");
  auto b = registry.Create("conv-transpose-to-tf");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
  ASSERT_TRUE((*a)->SetOption("form", "custom-op").ok());
  EXPECT_EQ((*b)->OptionText("form"), "compensate");  // no shared state between instances
}

TEST(PassManager, RecordsStatisticsTimingAndPrintsIr) {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  PassRegistry registry = Builtins();
  auto passes = ParsePipeline(kDefaultPipeline, registry);
  ASSERT_TRUE(passes.ok());
  PipelineOptions options;
  std::vector<std::string> printed;
  options.print_ir_after = {"conv-transpose-to-tf"};
  options.ir_sink = [&](const std::string& pass, const std::string& text) {
    printed.push_back(pass);
    EXPECT_THAT(text, HasSubstr("Transpose"));
    EXPECT_THAT(text, HasSubstr("W__tf"));
  };
  auto result = RunPipeline(model, *passes, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(printed, ElementsAre("conv-transpose-to-tf"));
  ASSERT_EQ(result->passes.size(), 6u);
  EXPECT_EQ(result->passes[0].name, "inline-conv-transpose-functions");
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_FALSE(result->passes[1].changed);
  EXPECT_EQ(result->passes[5].name, "conv-transpose-to-tf");
  EXPECT_TRUE(result->passes[5].changed);
  EXPECT_EQ(result->passes[5].statistics.at("weights-rewritten"), 1);
  EXPECT_GE(result->passes[5].seconds, 0.0);
}

// A pass that breaks the graph: verification must catch it and name the pass.
class BreakingPass : public Pass {
 public:
  std::string Name() const override { return "break-graph"; }
  std::string Summary() const override { return "test pass"; }
  absl::StatusOr<bool> Run(PassContext& context) override {
    context.model.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
    return true;
  }
};

TEST(PassManager, VerificationAfterEachPassNamesTheCulprit) {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(std::make_unique<BreakingPass>());
  auto result = RunPipeline(model, passes);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("after pass break-graph"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("'nowhere'"));
}

}  // namespace
}  // namespace tflayout
