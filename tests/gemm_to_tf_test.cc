// gemm-to-tf: a Gemm's B read with transB=1, (N, K), becomes (K, N) read with transB=0 (the
// Keras Dense kernel); the model stays valid ONNX, a second run leaves it alone, weights other
// nodes read are left alone with a remark, and conv-transpose-from-tf restores B and transB
// bit for bit.
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/verify.h"
#include "onnx/defs/parser.h"
#include "onnx/onnx_pb.h"
#include "tflayout/annotation.h"
#include "tflayout/node_util.h"
#include "tflayout/pass_manager.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kN = 3, kK = 4;

// Y = Gemm(X, B, C, transB=1) with X (2, K), B (N, K) and C (N,).
constexpr char kLinear[] = R"(
<ir_version: 8, opset_import: ["" : 13]>
linear (float[2,4] X) => (float[2,3] Y) {
  Y = Gemm <transB = 1> (X, B, C)
}
)";

onnx::TensorProto FloatTensor(const std::string& name, std::vector<int64_t> dims) {
  return testing::RawFloatTensor(name, dims);
}

// The text model with B (values 0, 1, 2, ...) and C as initializers.
onnx::ModelProto MakeModel(const char* text = kLinear) {
  onnx::ModelProto model;
  const auto status = onnx::OnnxParser::Parse(model, text);
  EXPECT_TRUE(status.IsOK()) << status.ErrorMessage();
  *model.mutable_graph()->add_initializer() = FloatTensor("B", {kN, kK});
  *model.mutable_graph()->add_initializer() = FloatTensor("C", {kN});
  return model;
}

const onnx::TensorProto* Initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

TEST(GemmToTf, TransposedOperandBecomesADenseKernelAndTheInverseRestoresIt) {
  onnx::ModelProto model = MakeModel();
  const onnx::TensorProto original = *Initializer(model, "B");
  auto result = testing::RunPasses(model, "gemm-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  const WeightLayoutReport& report = *result->passes[0].weight_layout;
  EXPECT_EQ(report.op_type, "Gemm");
  EXPECT_EQ(report.rewritten, 1);
  EXPECT_EQ(report.bytes, kN * kK * 4);
  const absl::Status checked = RunOnnxChecker(model);
  EXPECT_TRUE(checked.ok()) << checked;

  const onnx::TensorProto* tf = Initializer(model, "B__tf");
  ASSERT_NE(tf, nullptr);
  EXPECT_THAT(tf->dims(), ElementsAre(kK, kN));
  std::vector<float> values(kN * kK);
  std::memcpy(values.data(), tf->raw_data().data(), values.size() * 4);
  for (int64_t n = 0; n < kN; ++n) {
    for (int64_t k = 0; k < kK; ++k) ASSERT_EQ(values[k * kN + n], static_cast<float>(n * kK + k));
  }
  const onnx::NodeProto& gemm = model.graph().node(0);
  EXPECT_EQ(gemm.input(1), "B__tf");
  EXPECT_EQ(IntAttribute(gemm, "transB", -1), 0);
  EXPECT_EQ(model.graph().node_size(), 1);  // no Transpose: standard ONNX says it directly

  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 1);
  EXPECT_EQ(annotation->tensors(0).op_type(), "Gemm");
  EXPECT_EQ(annotation->tensors(0).form(), "standard");
  EXPECT_THAT(annotation->tensors(0).perm(), ElementsAre(1, 0));

  auto again = testing::RunPasses(model, "gemm-to-tf");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->passes[0].weight_layout->already_tf, 1);

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  const onnx::TensorProto* restored = Initializer(model, "B");
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->raw_data(), original.raw_data());
  EXPECT_THAT(restored->dims(), ElementsAre(kN, kK));
  EXPECT_EQ(model.graph().node(0).input(1), "B");
  EXPECT_EQ(IntAttribute(model.graph().node(0), "transB", -1), 1);
  EXPECT_EQ(ReadAnnotation(model)->tensors_size(), 0);
}

TEST(GemmToTf, AnOperandReadWithoutTransposeIsAlreadyInTfLayout) {
  onnx::ModelProto model = MakeModel(R"(
<ir_version: 8, opset_import: ["" : 13]>
linear (float[2,3] X) => (float[2,4] Y) {
  Y = Gemm (X, B, C)
}
)");
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, "gemm-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->changed);
  EXPECT_EQ(result->passes[0].weight_layout->already_tf, 1);
  EXPECT_EQ(result->passes[0].weight_layout->rewritten, 0);
}

TEST(GemmToTf, SharedOrMixedOperandsAreLeftAloneWithARemark) {
  // B is also read by a Gemm with transB=0; D is also read by an Identity.
  onnx::ModelProto model = MakeModel(R"(
<ir_version: 8, opset_import: ["" : 13]>
linear (float[2,4] X, float[2,3] Z) => (float[2,3] Y, float[2,4] U, float[2,3] V, float[3,4] E) {
  Y = Gemm <transB = 1> (X, B, C)
  U = Gemm (Z, B)
  V = Gemm <transB = 1> (X, D)
  E = Identity (D)
}
)");
  *model.mutable_graph()->add_initializer() = FloatTensor("D", {kN, kK});
  auto result = testing::RunPasses(model, "gemm-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].weight_layout->left_alone, 2);
  EXPECT_NE(Initializer(model, "B"), nullptr);
  EXPECT_NE(Initializer(model, "D"), nullptr);
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->remarks_size(), 2);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("both with transB=1 and with transB=0"));
  EXPECT_THAT(annotation->remarks(1).message(), HasSubstr("also read by Identity"));
}

TEST(GemmToTf, ConstantNodesAndIr3InitializerInputsAreRewrittenToo) {
  onnx::ModelProto model = MakeModel(R"(
<ir_version: 3, opset_import: ["" : 9]>
linear (float[2,4] X, float[3,4] B, float[3] C) => (float[2,3] Y, float[2,3] Z) {
  Y = Gemm <transB = 1> (X, B, C)
  Z = Gemm <transB = 1> (X, K, C)
}
)");
  onnx::NodeProto constant;
  constant.set_op_type("Constant");
  constant.add_output("K");
  onnx::AttributeProto& value = *constant.add_attribute();
  value.set_name("value");
  value.set_type(onnx::AttributeProto::TENSOR);
  *value.mutable_t() = FloatTensor("", {kN, kK});
  auto* nodes = model.mutable_graph()->mutable_node();
  *nodes->Add() = constant;
  for (int i = nodes->size() - 1; i > 0; --i) nodes->SwapElements(i, i - 1);

  auto result = testing::RunPasses(model, "gemm-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].weight_layout->rewritten, 2);
  const absl::Status checked = RunOnnxChecker(model);
  EXPECT_TRUE(checked.ok()) << checked;
  bool listed = false;
  for (const auto& input : model.graph().input()) {
    if (input.name() != "B__tf") continue;
    listed = true;
    const auto& shape = input.type().tensor_type().shape();
    EXPECT_EQ(shape.dim(0).dim_value(), kK);
    EXPECT_EQ(shape.dim(1).dim_value(), kN);
  }
  EXPECT_TRUE(listed) << "IR 3 lists every initializer as a graph input";
  EXPECT_EQ(model.graph().node(0).output(0), "K__tf");
  EXPECT_THAT(model.graph().node(0).attribute(0).t().dims(), ElementsAre(kK, kN));

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(model.graph().node(0).output(0), "K");
  EXPECT_EQ(model.graph().node(2).input(1), "K");
  EXPECT_NE(Initializer(model, "B"), nullptr);
  const absl::Status checked_back = RunOnnxChecker(model);
  EXPECT_TRUE(checked_back.ok()) << checked_back;
}

TEST(GemmToTf, OnnxTfTargetRewritesGemmWeights) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = MakeModel();
  testing::WriteFile(dir + "/in.onnx", model.SerializeAsString());
  auto run = testing::RunOpt({dir + "/in.onnx", "-o", dir + "/out.onnx", "--target=onnx-tf"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("1 of 1 Gemm"));
}

}  // namespace
}  // namespace tflayout
