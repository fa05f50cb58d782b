// What real exporters write around ConvTranspose weights, on small generated models:
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
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
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
  EXPECT_EQ(result->passes[3].name, "materialize-conv-transpose-dilations");
  EXPECT_EQ(result->passes[3].statistics.at("kernels-dilated"), 1);
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

// ---- Weights computed from constants by layout-transparent ops ----

onnx::TensorProto* FindInitializer(onnx::ModelProto& model, const std::string& name) {
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

const onnx::NodeProto* FindNodeByOutput(const onnx::ModelProto& model, const std::string& out) {
  for (const auto& n : model.graph().node()) {
    if (n.output_size() > 0 && n.output(0) == out) return &n;
  }
  return nullptr;
}

// Puts `node` first in the main graph (before the ConvTranspose that reads its output).
void Prepend(onnx::ModelProto& model, const onnx::NodeProto& node) {
  InsertNode(*model.mutable_graph(), 0, node);
}

onnx::NodeProto MakeNode(const std::string& op, const std::string& name,
                         std::vector<std::string> inputs, const std::string& output) {
  onnx::NodeProto node;
  node.set_op_type(op);
  node.set_name(name);
  for (auto& in : inputs) node.add_input(in);
  node.add_output(output);
  return node;
}

// W = DequantizeLinear(W_q, scale[, zero_point]) with W_q int8 (C, M/g, k, k); per-axis along
// `axis` when `per_axis`, else scalar scale. Returns the model; W_q holds distinct values.
onnx::ModelProto DequantizeModel(bool per_axis, int64_t axis, int opset) {
  ConvTransposeSpec spec;  // W: (4, 6, 3, 3)
  spec.opset = opset;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::TensorProto* w = FindInitializer(model, "W");
  w->set_name("W_q");
  w->set_data_type(onnx::TensorProto::INT8);
  std::string bytes(4 * 6 * 9, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i % 251 - 125);
  w->set_raw_data(bytes);
  onnx::TensorProto scale, zero;
  scale.set_name("W_scale");
  scale.set_data_type(onnx::TensorProto::FLOAT);
  zero.set_name("W_zero");
  zero.set_data_type(onnx::TensorProto::INT8);
  const int64_t dims[] = {4, 6, 3, 3};
  const int64_t n = per_axis ? dims[axis < 0 ? axis + 4 : axis] : 1;
  if (per_axis) {
    scale.add_dims(n);
    zero.add_dims(n);
  }
  for (int64_t i = 0; i < n; ++i) {
    scale.add_float_data(0.5f + static_cast<float>(i));
    zero.add_int32_data(static_cast<int32_t>(i));
  }
  *model.mutable_graph()->add_initializer() = scale;
  *model.mutable_graph()->add_initializer() = zero;
  onnx::NodeProto dq = MakeNode("DequantizeLinear", "W_dq", {"W_q", "W_scale", "W_zero"}, "W");
  if (per_axis) SetIntAttribute(dq, "axis", axis);
  Prepend(model, dq);
  return model;
}

int64_t AxisOf(const onnx::NodeProto& node) {
  for (const auto& a : node.attribute()) {
    if (a.name() == "axis") return a.i();
  }
  return 1;
}

TEST(LayoutChains, DequantizeLinearPerTensorAndPerAxisBothForms) {
  struct Case {
    bool per_axis;
    int64_t axis;
    int opset;
    int64_t tf_axis;
  };
  // ONNX (C, M/g, k1, k2) -> TF (k1, k2, M/g, C): axis 0 -> 3, 1 -> 2, 2 -> 0, -1 (k2) -> 1.
  for (const Case& c : {Case{false, 1, 10, 1}, Case{true, 0, 13, 3}, Case{true, 1, 13, 2},
                        Case{true, 2, 13, 0}, Case{true, -1, 13, 1}}) {
    for (const char* form : {"compensate", "custom-op"}) {
      SCOPED_TRACE(absl::StrCat(form, " per_axis=", c.per_axis, " axis=", c.axis));
      onnx::ModelProto model = DequantizeModel(c.per_axis, c.axis, c.opset);
      ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
      const std::string original = model.SerializeAsString();
      const std::string q_bytes = testing::WeightBytes(model, "W_q");
      auto result = testing::RunPasses(
          model, absl::StrCat("resolve-conv-transpose-pads,conv-transpose-to-tf{form=", form, "}"));
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->passes[1].statistics.at("weights-rewritten"), 1);
      EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
      const onnx::TensorProto* q_tf = FindInitializer(model, "W_q__tf");
      ASSERT_NE(q_tf, nullptr);
      EXPECT_EQ(std::vector<int64_t>(q_tf->dims().begin(), q_tf->dims().end()),
                (std::vector<int64_t>{3, 3, 6, 4}));
      // W_q[i, o, k] == W_q__tf[k, o, i]
      const std::string tf_bytes = testing::WeightBytes(model, "W_q__tf");
      for (int64_t i = 0; i < 4; ++i) {
        for (int64_t o = 0; o < 6; ++o) {
          for (int64_t k = 0; k < 9; ++k) {
            ASSERT_EQ(q_bytes[(i * 6 + o) * 9 + k], tf_bytes[(k * 6 + o) * 4 + i]);
          }
        }
      }
      const onnx::NodeProto* dq = FindNodeByOutput(model, "W__tf");
      ASSERT_NE(dq, nullptr);
      EXPECT_EQ(dq->op_type(), "DequantizeLinear");
      EXPECT_EQ(dq->input(0), "W_q__tf");
      EXPECT_EQ(dq->input(1), "W_scale");  // per-axis tensors keep their order
      if (c.per_axis) EXPECT_EQ(AxisOf(*dq), c.tf_axis);
      const onnx::NodeProto& deconv = model.graph().node(model.graph().node_size() - 1);
      EXPECT_EQ(deconv.input(1), std::string(form) == "custom-op" ? "W__tf" : "W");
      auto annotation = ReadAnnotation(model);
      ASSERT_EQ(annotation->tensors_size(), 1);
      const RewrittenTensor& entry = annotation->tensors(0);
      EXPECT_EQ(entry.tensor(), "W__tf");
      EXPECT_EQ(entry.source(), "W");
      EXPECT_EQ(entry.stored(), "W_q__tf");
      EXPECT_EQ(entry.stored_source(), "W_q");
      EXPECT_EQ(entry.data_type(), onnx::TensorProto::INT8);
      ASSERT_EQ(entry.chain_size(), 1);
      EXPECT_EQ(entry.chain(0).op_type(), "DequantizeLinear");
      EXPECT_EQ(entry.chain(0).node(), "W_dq");
      EXPECT_EQ(entry.chain(0).per_axis(), c.per_axis);

      // Idempotent, and the inverse gives the original back.
      const std::string once = model.SerializeAsString();
      ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf").ok());
      EXPECT_EQ(model.SerializeAsString(), once);
      ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
      model.clear_metadata_props();
      onnx::ModelProto want;
      want.ParseFromString(original);
      EXPECT_EQ(testing::WeightBytes(model, "W_q"), q_bytes);
      const onnx::NodeProto* restored = FindNodeByOutput(model, "W");
      ASSERT_NE(restored, nullptr);
      EXPECT_EQ(restored->input(0), "W_q");
      if (c.per_axis) EXPECT_EQ(AxisOf(*restored), c.axis < 0 ? c.axis + 4 : c.axis);
      // The compensate form comes back byte for byte (the custom op keeps explicit attributes).
      if (std::string(form) == "compensate" && c.axis >= 0) {
        EXPECT_EQ(model.SerializeAsString(), want.SerializeAsString());
      }
    }
  }
}

TEST(LayoutChains, SharedParameterThroughIdentityIsStoredOnce) {
  // torch writes W2 = Identity(W) when one parameter feeds two modules.
  ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::GraphProto& graph = *model.mutable_graph();
  onnx::NodeProto second = graph.node(0);
  second.set_name("deconv2");
  second.set_input(1, "W2");
  second.set_output(0, "Y2");
  *graph.add_node() = second;
  *graph.add_output() = graph.output(0);
  graph.mutable_output(1)->set_name("Y2");
  Prepend(model, MakeNode("Identity", "share", {"W"}, "W2"));
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  const std::string original = model.SerializeAsString();
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("weights-rewritten"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("conv-transpose-weights"), 2);
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_EQ(model.graph().initializer_size(), 1);  // one TF-layout copy
  EXPECT_EQ(model.graph().initializer(0).name(), "W__tf");
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->tensors_size(), 2);
  EXPECT_EQ(annotation->tensors(0).tensor(), "W__tf");
  EXPECT_EQ(annotation->tensors(1).tensor(), "W2__tf");
  EXPECT_EQ(annotation->tensors(1).stored(), "W__tf");
  // The custom-op form reads both TF-layout values directly.
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
  model.clear_metadata_props();
  onnx::ModelProto want;
  want.ParseFromString(original);
  EXPECT_EQ(model.SerializeAsString(), want.SerializeAsString());
  ASSERT_TRUE(testing::RunPasses(model, "resolve-conv-transpose-pads,conv-transpose-to-tf{form=custom-op}").ok());
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  int transposes = 0;
  for (const auto& n : model.graph().node()) transposes += n.op_type() == "Transpose";
  EXPECT_EQ(transposes, 0);
}

TEST(LayoutChains, Float16WeightCastToFloat) {
  ConvTransposeSpec spec;
  spec.data_type = onnx::TensorProto::FLOAT16;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  FindInitializer(model, "W")->set_name("W16");
  onnx::NodeProto cast = MakeNode("Cast", "W_cast", {"W16"}, "W");
  SetIntAttribute(cast, "to", onnx::TensorProto::FLOAT);
  Prepend(model, cast);
  // X and Y are float in a mixed-precision export.
  model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT);
  model.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("weights-rewritten"), 1);
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_NE(FindInitializer(model, "W16__tf"), nullptr);
  EXPECT_EQ(FindNodeByOutput(model, "W__tf")->op_type(), "Cast");
  EXPECT_EQ(FindNodeByOutput(model, "W")->op_type(), "Transpose");
}

TEST(LayoutChains, ChainFromARunTimeValueIsLeftAloneWithTheReason) {
  ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.clear_initializer();
  onnx::ValueInfoProto* fed = graph.add_input();
  *fed = graph.input(0);
  fed->set_name("W_fed");
  Prepend(model, MakeNode("Identity", "id", {"W_fed"}, "W"));
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf").ok());
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("through Identity node 'id'"));
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("graph input without an initializer"));
}

}  // namespace
}  // namespace tflayout
