// What real exporters write around ConvTranspose weights (issue 10), on small generated models:
// initializers listed as graph inputs (IR 3 and keep_initializers_as_inputs), torch's names
// ("onnx::ConvTranspose_304", "/main/0/ConvTranspose"), and the counts the CLI reports.
// python/tests/test_real_exporters.py runs the same behaviours on real torch exports.
#include <regex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/api/driver.h"
#include "lib/ir/verify.h"
#include "tflayout/annotation.h"
#include "tflayout/graph_view.h"
#include "tflayout/model_io.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;
using testing::ConvTransposeSpec;

// Lists every initializer of the main graph as a graph input, as torch does at opset 8 (IR 3)
// and with keep_initializers_as_inputs=True.
void ListInitializersAsInputs(onnx::ModelProto& model) {
  onnx::GraphProto& graph = *model.mutable_graph();
  for (const onnx::TensorProto& t : graph.initializer()) AddInitializerInput(graph, t);
}

// Renames the weight "W" (initializer and reader) and the ConvTranspose node.
void RenameAsTorchDoes(onnx::ModelProto& model, const std::string& weight,
                       const std::string& node) {
  onnx::GraphProto& graph = *model.mutable_graph();
  for (onnx::TensorProto& t : *graph.mutable_initializer()) {
    if (t.name() == "W") t.set_name(weight);
  }
  for (onnx::NodeProto& n : *graph.mutable_node()) {
    for (std::string& in : *n.mutable_input()) {
      if (in == "W") in = weight;
    }
    if (n.op_type() == "ConvTranspose") n.set_name(node);
  }
}

onnx::ModelProto Ir3Model(int opset = 8) {
  ConvTransposeSpec spec;
  spec.ir_version = 3;
  spec.opset = opset;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ListInitializersAsInputs(model);
  return model;
}

const onnx::ValueInfoProto* FindInput(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& in : model.graph().input()) {
    if (in.name() == name) return &in;
  }
  return nullptr;
}

std::vector<int64_t> InputDims(const onnx::ValueInfoProto& input) {
  std::vector<int64_t> dims;
  for (const auto& d : input.type().tensor_type().shape().dim()) dims.push_back(d.dim_value());
  return dims;
}

TEST(InitializerInputs, Ir3WeightsAreConstantsAndStayListedWithTfDims) {
  for (const char* form : {"compensate", "custom-op"}) {
    SCOPED_TRACE(form);
    onnx::ModelProto model = Ir3Model();
    ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    auto result = testing::RunPasses(
        model, absl::StrCat("resolve-conv-transpose-pads,conv-transpose-to-tf{form=", form, "}"));
    ASSERT_TRUE(result.ok()) << result.status();
    auto annotation = ReadAnnotation(model);
    ASSERT_EQ(annotation->tensors_size(), 1);
    EXPECT_EQ(annotation->remarks_size(), 0);
    // The checker requires every IR 3 initializer to be an input: W__tf is, with TF dims;
    // W is a node output now and no longer an input.
    EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    EXPECT_EQ(FindInput(model, "W"), nullptr);
    const onnx::ValueInfoProto* tf = FindInput(model, "W__tf");
    ASSERT_NE(tf, nullptr);
    EXPECT_EQ(InputDims(*tf), (std::vector<int64_t>{3, 3, 6, 4}));
    EXPECT_NE(FindInput(model, "B"), nullptr);
    EXPECT_EQ(model.graph().input_size(), 3);  // X, W__tf, B: same count, same order
    EXPECT_EQ(model.graph().input(1).name(), "W__tf");
    EXPECT_EQ(model.ir_version(), 3);

    // The inverse restores the input entry.
    ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
    EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    ASSERT_NE(FindInput(model, "W"), nullptr);
    EXPECT_EQ(InputDims(*FindInput(model, "W")), (std::vector<int64_t>{4, 6, 3, 3}));
  }
}

TEST(InitializerInputs, Ir3DilatedWeightIsMaterializedWithItsInputEntry) {
  ConvTransposeSpec spec;
  spec.ir_version = 3;
  spec.opset = 8;
  spec.dilations = {2, 2};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ListInitializersAsInputs(model);
  auto result = testing::RunPasses(model, kDefaultPipeline);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_EQ(result->passes[1].statistics.at("kernels-dilated"), 1);
  ASSERT_NE(FindInput(model, "W__tf"), nullptr);
  EXPECT_EQ(InputDims(*FindInput(model, "W__tf")), (std::vector<int64_t>{5, 5, 6, 4}));
}

TEST(InitializerInputs, Ir4AndLaterAreLeftAloneByDefaultWithTheWayOut) {
  ConvTransposeSpec spec;
  spec.ir_version = 7;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ListInitializersAsInputs(model);
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("weights-left-alone"), 1);
  EXPECT_EQ(result->passes[0].statistics.at("conv-transpose-weights"), 1);
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->remarks_size(), 1);
  const std::string& message = annotation->remarks(0).message();
  EXPECT_THAT(message, HasSubstr("overridden at run time (IR 7"));
  EXPECT_THAT(message, HasSubstr("conv-transpose-to-tf{initializers-as-inputs=constant}"));
  EXPECT_THAT(message, HasSubstr("remove-initializers-from-inputs"));
  EXPECT_NE(FindInput(model, "W"), nullptr);

  // Opting in: rewritten, and no longer an input (the user said nobody feeds it).
  model.ParseFromString(before);
  result = testing::RunPasses(model, "conv-transpose-to-tf{initializers-as-inputs=constant}");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("weights-rewritten"), 1);
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_EQ(FindInput(model, "W"), nullptr);
  EXPECT_EQ(FindInput(model, "W__tf"), nullptr);
  EXPECT_EQ(model.graph().input_size(), 1);
}

TEST(InitializerInputs, GraphInputWithoutInitializerSaysSo) {
  ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ListInitializersAsInputs(model);
  model.mutable_graph()->clear_initializer();
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf").ok());
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("graph input without an initializer"));
  EXPECT_THAT(annotation->remarks(0).message(), ::testing::Not(HasSubstr("initializers-as-inputs")));
}

TEST(RemoveInitializersFromInputs, DropsOnlyInitializerEntriesFromIr4On) {
  ConvTransposeSpec spec;
  spec.ir_version = 7;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ListInitializersAsInputs(model);
  ASSERT_EQ(model.graph().input_size(), 3);
  auto result = testing::RunPasses(model, "remove-initializers-from-inputs,conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->passes[0].changed);
  EXPECT_EQ(result->passes[0].statistics.at("inputs-removed"), 2);
  ASSERT_EQ(model.graph().input_size(), 1);
  EXPECT_EQ(model.graph().input(0).name(), "X");
  EXPECT_EQ(model.graph().initializer_size(), 2);
  EXPECT_EQ(result->passes[1].statistics.at("weights-rewritten"), 1);
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  // Nothing left to do the second time.
  auto again = testing::RunPasses(model, "remove-initializers-from-inputs");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
}

TEST(RemoveInitializersFromInputs, Ir3KeepsItsRequiredEntries) {
  onnx::ModelProto model = Ir3Model();
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, "remove-initializers-from-inputs");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("IR 3 requires every initializer"));
  EXPECT_EQ(model.graph().input_size(), 3);
}

// TensorFlow's rule for scope names (onnx-tf turns node names into them).
bool IsValidTfScopeName(const std::string& name) {
  static const std::regex kScope(R"([A-Za-z0-9.][A-Za-z0-9_.\\/>-]*)");
  return std::regex_match(name, kScope);
}

TEST(Names, ScopeSafeNameFollowsTensorFlowsRule) {
  EXPECT_EQ(ScopeSafeName("onnx::ConvTranspose_304__tf"), "onnx__ConvTranspose_304__tf");
  EXPECT_EQ(ScopeSafeName("/main/0/ConvTranspose"), "main/0/ConvTranspose");
  EXPECT_EQ(ScopeSafeName("main.0.weight__tf"), "main.0.weight__tf");
  EXPECT_EQ(ScopeSafeName("__x y"), "x_y");
  EXPECT_EQ(ScopeSafeName("::"), "t");
  EXPECT_EQ(ScopeSafeName(""), "t");
  for (const char* name : {"a b", "_lead", "é", "x:y", "/", "a\\b>c-d.e"}) {
    EXPECT_TRUE(IsValidTfScopeName(ScopeSafeName(name))) << name;
  }
}

TEST(Names, EveryCreatedNameIsUniqueAndAValidTfScopeName) {
  for (const char* form : {"compensate", "custom-op"}) {
    for (const char* node_name : {"/main/0/ConvTranspose", ""}) {
      SCOPED_TRACE(absl::StrCat(form, " node '", node_name, "'"));
      ConvTransposeSpec spec;
      spec.dilations = {2, 1};
      onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
      RenameAsTorchDoes(model, "onnx::ConvTranspose_304", node_name);
      // A name the tool would derive is taken already.
      onnx::TensorProto* clash = model.mutable_graph()->add_initializer();
      clash->set_name("onnx__ConvTranspose_304__tf");
      clash->set_data_type(onnx::TensorProto::FLOAT);
      clash->add_dims(1);
      clash->add_float_data(0);
      absl::flat_hash_set<std::string> before;
      for (const auto& n : model.graph().node()) before.insert(n.name());
      for (const auto& t : model.graph().initializer()) before.insert(t.name());
      for (const auto& n : model.graph().node()) {
        for (const auto& v : n.output()) before.insert(v);
      }

      auto result = testing::RunPasses(
          model, absl::StrCat("resolve-conv-transpose-pads,materialize-conv-transpose-dilations,"
                              "conv-transpose-to-tf{form=", form, "}"));
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
      absl::flat_hash_set<std::string> seen;
      auto check_new = [&](const std::string& name, const char* what) {
        if (before.contains(name)) return;
        EXPECT_TRUE(IsValidTfScopeName(name)) << what << " '" << name << "'";
        EXPECT_TRUE(seen.insert(name).second) << what << " '" << name << "' given twice";
      };
      for (const auto& n : model.graph().node()) {
        check_new(n.name(), "node");
        for (const auto& v : n.output()) check_new(v, "value");
      }
      for (const auto& t : model.graph().initializer()) check_new(t.name(), "initializer");
      EXPECT_GE(seen.size(), 1u);  // at least the TF-layout weight
      auto annotation = ReadAnnotation(model);
      ASSERT_EQ(annotation->tensors_size(), 1);
      EXPECT_EQ(annotation->tensors(0).source(), "onnx::ConvTranspose_304");
      EXPECT_EQ(annotation->tensors(0).tensor(), "onnx__ConvTranspose_304__tf_1");
      EXPECT_TRUE(IsValidTfScopeName(annotation->tensors(0).tensor()));
    }
  }
}

// The CLI's summary, --require-all-converted and --report on a model whose weight is left
// alone (IR 7 initializer listed as an input) and on one where it is rewritten.
class CountsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ConvTransposeSpec spec;
    spec.ir_version = 7;
    onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
    ASSERT_TRUE(SaveModel(model, dir_ + "/plain.onnx").ok());
    ListInitializersAsInputs(model);
    ASSERT_TRUE(SaveModel(model, dir_ + "/inputs.onnx").ok());
  }
  std::string dir_;
};

TEST_F(CountsCli, SummaryAlwaysGivesNOfM) {
  auto left = testing::RunOpt({dir_ + "/inputs.onnx", "-o", dir_ + "/a.onnx"});
  ASSERT_EQ(left.exit_code, kExitOk) << left.output;
  EXPECT_THAT(left.output, HasSubstr("rewrote 0 of 1 ConvTranspose weight(s)"));
  EXPECT_THAT(left.output, HasSubstr("1 left alone (see remarks)"));
  auto done = testing::RunOpt({dir_ + "/plain.onnx", "-o", dir_ + "/b.onnx"});
  ASSERT_EQ(done.exit_code, kExitOk) << done.output;
  EXPECT_THAT(done.output, HasSubstr("rewrote 1 of 1 ConvTranspose weight(s) for 1 node(s)"));
  auto again = testing::RunOpt({dir_ + "/b.onnx", "-o", dir_ + "/c.onnx"});
  ASSERT_EQ(again.exit_code, kExitOk) << again.output;
  EXPECT_THAT(again.output, HasSubstr("rewrote 0 of 1 ConvTranspose weight(s)"));
  EXPECT_THAT(again.output, HasSubstr("1 already in TF layout"));
}

TEST_F(CountsCli, RequireAllConvertedFailsWithItsOwnCodeAndWritesNothing) {
  const std::string out = dir_ + "/out.onnx";
  auto failed = testing::RunOpt({dir_ + "/inputs.onnx", "-o", out, "--require-all-converted",
                                 "--report", dir_ + "/report.json"});
  EXPECT_EQ(failed.exit_code, kExitNotAllConverted) << failed.output;
  EXPECT_THAT(failed.output, HasSubstr("1 of 1 ConvTranspose weight(s) left in ONNX layout"));
  EXPECT_THAT(failed.output, HasSubstr("initializers-as-inputs=constant"));
  EXPECT_FALSE(testing::FileExists(out));
  const std::string report = testing::ReadFile(dir_ + "/report.json");
  EXPECT_THAT(report, HasSubstr(R"("conv_transpose_weights":1)"));
  EXPECT_THAT(report, HasSubstr(R"("weights_left_alone":1)"));

  auto opted_in = testing::RunOpt(
      {dir_ + "/inputs.onnx", "-o", out, "--require-all-converted", "--report",
       dir_ + "/report2.json", "--passes",
       "resolve-conv-transpose-pads,conv-transpose-to-tf{initializers-as-inputs=constant}"});
  EXPECT_EQ(opted_in.exit_code, kExitOk) << opted_in.output;
  EXPECT_TRUE(testing::FileExists(out));
  const std::string report2 = testing::ReadFile(dir_ + "/report2.json");
  EXPECT_THAT(report2, HasSubstr(R"("weights_rewritten":1)"));

  auto no_pass = testing::RunOpt({dir_ + "/plain.onnx", "-o", dir_ + "/x.onnx",
                                  "--require-all-converted", "--passes",
                                  "resolve-conv-transpose-pads"});
  EXPECT_EQ(no_pass.exit_code, kExitUsage) << no_pass.output;
}

TEST_F(CountsCli, HelpDocumentsTheExitCodeAndTheFlag) {
  auto help = testing::RunOpt({"--help"});
  EXPECT_THAT(help.output, HasSubstr("--require-all-converted"));
  EXPECT_THAT(help.output, HasSubstr("5 --require-all-converted"));
  EXPECT_THAT(help.output, HasSubstr("remove-initializers-from-inputs"));
  EXPECT_THAT(help.output, HasSubstr("{initializers-as-inputs=auto|constant}"));
}

}  // namespace
}  // namespace tflayout
