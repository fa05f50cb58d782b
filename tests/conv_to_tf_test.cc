// conv-to-tf: the element mapping (M, C/g, k...) -> (k..., C/g, M) for 1-D to 3-D and grouped
// weights, the compensate form passing ONNX's checker, a second run leaving the model alone,
// weights it must leave alone, and conv-transpose-from-tf restoring the weight bit for bit;
// the custom-op form (tflayout.ConvTF reading the TF-layout weight) and its inverse.
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/annotation_reconcile.h"
#include "lib/ir/verify.h"
#include "onnx/onnx_pb.h"
#include "tflayout/annotation.h"
#include "tflayout/pass_manager.h"
#include "tflayout/tensor.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Y = Conv(X, W) with W (m, c/group, k...) of float32 values 0, 1, 2, ... as an initializer.
onnx::ModelProto MakeConvModel(int64_t m, int64_t c, int64_t group, std::vector<int64_t> kernel) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("conv");
  std::vector<int64_t> dims = {m, c / group};
  dims.insert(dims.end(), kernel.begin(), kernel.end());
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  onnx::TensorProto& w = *g.add_initializer();
  w.set_name("W");
  w.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) w.add_dims(d);
  std::string bytes(count * 4, '\0');
  for (int64_t i = 0; i < count; ++i) {
    const float v = static_cast<float>(i);
    std::memcpy(&bytes[i * 4], &v, 4);
  }
  w.set_raw_data(bytes);
  auto add_value = [&](onnx::ValueInfoProto* vi, const std::string& name,
                       const std::vector<int64_t>& shape) {
    vi->set_name(name);
    auto* t = vi->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  std::vector<int64_t> x_shape = {1, c};
  for (int64_t k : kernel) x_shape.push_back(k + 2);
  add_value(g.add_input(), "X", x_shape);
  g.add_output()->set_name("Y");
  auto* y = g.mutable_output(0)->mutable_type()->mutable_tensor_type();
  y->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < x_shape.size(); ++i) y->mutable_shape()->add_dim()->set_dim_param("d");
  onnx::NodeProto& node = *g.add_node();
  node.set_op_type("Conv");
  node.set_name("conv0");
  node.add_input("X");
  node.add_input("W");
  node.add_output("Y");
  onnx::AttributeProto& attr = *node.add_attribute();
  attr.set_name("group");
  attr.set_type(onnx::AttributeProto::INT);
  attr.set_i(group);
  return model;
}

const onnx::TensorProto* Initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

std::vector<float> Floats(const onnx::TensorProto& t) {
  std::vector<float> out(t.raw_data().size() / 4);
  std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
  return out;
}

struct Case {
  int64_t m, c, group;
  std::vector<int64_t> kernel;
};

class ConvToTfLayout : public ::testing::TestWithParam<Case> {};

TEST_P(ConvToTfLayout, EveryElementLandsAtItsTfIndexAndTheInverseRestoresTheBytes) {
  const Case& c = GetParam();
  onnx::ModelProto model = MakeConvModel(c.m, c.c, c.group, c.kernel);
  const onnx::TensorProto original = model.graph().initializer(0);
  auto result = testing::RunPasses(model, "conv-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->passes[0].weight_layout.has_value());
  EXPECT_EQ(result->passes[0].weight_layout->op_type, "Conv");
  EXPECT_EQ(result->passes[0].weight_layout->rewritten, 1);
  const absl::Status checked = RunOnnxChecker(model);
  EXPECT_TRUE(checked.ok()) << checked;

  const onnx::TensorProto* tf = Initializer(model, "W__tf");
  ASSERT_NE(tf, nullptr);
  const int64_t cg = c.c / c.group;
  int64_t s = 1;
  for (int64_t k : c.kernel) s *= k;
  std::vector<int64_t> want_dims(c.kernel);
  want_dims.push_back(cg);
  want_dims.push_back(c.m);
  EXPECT_THAT(tf->dims(), ElementsAreArray(want_dims));
  const std::vector<float> values = Floats(*tf);
  // ONNX element (m, b, k) at m*cg*s + b*s + k sits at TF index k*cg*m_total + b*m_total + m.
  for (int64_t m = 0; m < c.m; ++m) {
    for (int64_t b = 0; b < cg; ++b) {
      for (int64_t k = 0; k < s; ++k) {
        ASSERT_EQ(values[k * cg * c.m + b * c.m + m], static_cast<float>(m * cg * s + b * s + k));
      }
    }
  }
  ASSERT_EQ(model.graph().node(0).op_type(), "Transpose");
  EXPECT_EQ(model.graph().node(0).output(0), "W");

  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 1);
  EXPECT_EQ(annotation->tensors(0).op_type(), "Conv");
  EXPECT_EQ(annotation->tensors(0).tf().group(), c.group);

  // A second run sees its own work.
  auto again = testing::RunPasses(model, "conv-to-tf");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->passes[0].weight_layout->already_tf, 1);

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  const onnx::TensorProto* restored = Initializer(model, "W");
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->raw_data(), original.raw_data());
  EXPECT_THAT(restored->dims(), ElementsAreArray(original.dims()));
  EXPECT_EQ(model.graph().node_size(), 1);
  EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvToTfLayout,
    ::testing::Values(Case{4, 3, 1, {3}}, Case{6, 4, 2, {3, 2}}, Case{8, 4, 4, {3, 3}},
                      Case{4, 2, 1, {2, 3, 2}}, Case{6, 6, 3, {1, 1, 2}}));

void SetInts(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto& attr = *node.add_attribute();
  attr.set_name(name);
  attr.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr.add_ints(v);
}

bool ImportsCustomDomain(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import()) {
    if (op.domain() == "tflayout" && op.version() == 1) return true;
  }
  return false;
}

TEST_P(ConvToTfLayout, CustomOpFormReadsTheTfWeightAndTheInverseGivesBackTheConv) {
  const Case& c = GetParam();
  onnx::ModelProto model = MakeConvModel(c.m, c.c, c.group, c.kernel);
  onnx::NodeProto& conv = *model.mutable_graph()->mutable_node(0);
  const size_t n = c.kernel.size();
  SetInts(conv, "strides", std::vector<int64_t>(n, 2));
  SetInts(conv, "pads", std::vector<int64_t>(2 * n, 1));
  const onnx::NodeProto original_node = conv;
  const onnx::TensorProto original = model.graph().initializer(0);

  auto result = testing::RunPasses(model, "conv-to-tf{form=custom-op}");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].weight_layout->rewritten, 1);
  EXPECT_EQ(result->passes[0].statistics.at("custom-ops-created"), 1);
  EXPECT_EQ(result->passes[0].statistics.at("transposes-inserted"), 0);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  ASSERT_EQ(model.graph().node_size(), 1);  // no Transpose: only the custom op reads W
  const onnx::NodeProto& node = model.graph().node(0);
  EXPECT_EQ(node.op_type(), "ConvTF");
  EXPECT_EQ(node.domain(), "tflayout");
  EXPECT_EQ(node.input(1), "W__tf");
  // The attributes are the Conv's as written.
  ASSERT_EQ(node.attribute_size(), original_node.attribute_size());
  for (int i = 0; i < node.attribute_size(); ++i) {
    EXPECT_EQ(node.attribute(i).SerializeAsString(),
              original_node.attribute(i).SerializeAsString());
  }
  EXPECT_TRUE(ImportsCustomDomain(model));
  std::vector<int64_t> want_dims(c.kernel);
  want_dims.push_back(c.c / c.group);
  want_dims.push_back(c.m);
  EXPECT_THAT(Initializer(model, "W__tf")->dims(), ElementsAreArray(want_dims));
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 1);
  EXPECT_EQ(annotation->tensors(0).op_type(), "Conv");
  EXPECT_EQ(annotation->tensors(0).form(), "custom-op");
  EXPECT_EQ(annotation->tensors(0).tensor(), "W__tf");
  EXPECT_EQ(annotation->tensors(0).source(), "W");
  // Reconciliation sees ConvTF reading the recorded tensor directly: nothing stale.
  Annotation reconciled = *annotation;
  EXPECT_EQ(ReconcileAnnotation(model, reconciled), 0);
  EXPECT_EQ(reconciled.tensors_size(), 1);

  // A second run (either form) sees its own work.
  for (const char* passes : {"conv-to-tf{form=custom-op}", "conv-to-tf"}) {
    auto again = testing::RunPasses(model, passes);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_FALSE(again->changed) << passes;
    EXPECT_EQ(again->passes[0].weight_layout->weights, 1) << passes;
    EXPECT_EQ(again->passes[0].weight_layout->already_tf, 1) << passes;
    EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 1) << passes;
  }

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  const onnx::TensorProto* restored = Initializer(model, "W");
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->raw_data(), original.raw_data());
  EXPECT_THAT(restored->dims(), ElementsAreArray(original.dims()));
  ASSERT_EQ(model.graph().node_size(), 1);
  EXPECT_EQ(model.graph().node(0).SerializeAsString(), original_node.SerializeAsString());
  EXPECT_FALSE(ImportsCustomDomain(model));
  EXPECT_EQ(model.opset_import_size(), 1);
  EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 0);
  const absl::Status checked = RunOnnxChecker(model);
  EXPECT_TRUE(checked.ok()) << checked;
}

// A Constant node's weight: the custom op reads the renamed Constant output.
TEST(ConvToTf, CustomOpFormReadsAConstantNodesOutput) {
  onnx::ModelProto model = MakeConvModel(4, 2, 1, {3, 3});
  onnx::GraphProto& g = *model.mutable_graph();
  onnx::NodeProto constant;
  constant.set_op_type("Constant");
  constant.set_name("make_w");
  constant.add_output("W");
  onnx::AttributeProto& value = *constant.add_attribute();
  value.set_name("value");
  value.set_type(onnx::AttributeProto::TENSOR);
  *value.mutable_t() = g.initializer(0);
  value.mutable_t()->clear_name();
  const std::string original = g.initializer(0).raw_data();
  g.clear_initializer();
  *g.add_node() = g.node(0);
  *g.mutable_node(0) = constant;

  auto result = testing::RunPasses(model, "conv-to-tf{form=custom-op}");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(g.node_size(), 2);
  EXPECT_EQ(g.node(0).output(0), "W__tf");
  EXPECT_EQ(g.node(1).op_type(), "ConvTF");
  EXPECT_EQ(g.node(1).input(1), "W__tf");
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);

  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
  ASSERT_EQ(g.node_size(), 2);
  EXPECT_EQ(g.node(0).output(0), "W");
  EXPECT_EQ(g.node(0).attribute(0).t().raw_data(), original);
  EXPECT_EQ(g.node(1).op_type(), "Conv");
  EXPECT_EQ(g.node(1).domain(), "");
  EXPECT_EQ(g.node(1).input(1), "W");
}

// A ConvTF node that no longer reads the recorded tensor (another tool rewired it), or a
// ConvTransposeTF where the Conv record names a ConvTF, makes the record stale.
TEST(ConvToTf, ReconcileDropsACustomOpRecordTheModelNoLongerMatches) {
  for (const char* change : {"rewired", "other-custom-op"}) {
    onnx::ModelProto model = MakeConvModel(4, 2, 1, {3, 3});
    ASSERT_TRUE(testing::RunPasses(model, "conv-to-tf{form=custom-op}").ok());
    onnx::GraphProto& g = *model.mutable_graph();
    if (std::string(change) == "rewired") {
      onnx::TensorProto& copy = *g.add_initializer();
      copy = g.initializer(0);
      copy.set_name("W_copy");
      *g.mutable_node(0)->mutable_input(1) = "W_copy";
    } else {
      g.mutable_node(0)->set_op_type("ConvTransposeTF");
    }
    auto annotation = ReadAnnotation(model);
    ASSERT_TRUE(annotation.ok());
    EXPECT_EQ(ReconcileAnnotation(model, *annotation), 1) << change;
    EXPECT_EQ(annotation->tensors_size(), 0) << change;
  }
}

TEST(ConvToTf, LeavesAWeightOtherNodesReadAlone) {
  onnx::ModelProto model = MakeConvModel(4, 3, 1, {3});
  onnx::NodeProto& other = *model.mutable_graph()->add_node();
  other.set_op_type("Identity");
  other.add_input("W");
  other.add_output("W_copy");
  auto result = testing::RunPasses(model, "conv-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].weight_layout->left_alone, 1);
  EXPECT_NE(Initializer(model, "W"), nullptr);
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("also read by Identity"));
}

TEST(ConvToTf, ToolSummaryCountsConvWeights) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = MakeConvModel(4, 2, 1, {3, 3});
  std::string bytes;
  ASSERT_TRUE(model.SerializeToString(&bytes));
  testing::WriteFile(dir + "/in.onnx", bytes);
  auto run = testing::RunOpt({dir + "/in.onnx", "-o", dir + "/out.onnx", "--target=onnx-tf"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("rewrote 0 of 0 ConvTranspose, 1 of 1 Conv, 0 of 0 Gemm weight(s)"));
  // --target=onnx-tf writes the custom-op form.
  onnx::ModelProto out;
  ASSERT_TRUE(out.ParseFromString(testing::ReadFile(dir + "/out.onnx")));
  ASSERT_EQ(out.graph().node_size(), 1);
  EXPECT_EQ(out.graph().node(0).op_type(), "ConvTF");
  EXPECT_TRUE(ImportsCustomDomain(out));
}

}  // namespace
}  // namespace tflayout
