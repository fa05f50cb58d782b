// Passes of the onnx2tf target (tflayout/targets.h). Numerics through the real onnx2tf are in
// python/tests/test_onnx2tf_*.py; these pin the structure and the exact bytes.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/verify.h"
#include "tflayout/targets.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::ElementsAre;

const onnx::TensorProto* Initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& init : model.graph().initializer()) {
    if (init.name() == name) return &init;
  }
  return nullptr;
}

TEST(SplitConvTransposeBias, ThreeDBiasBecomesAnAddWithTheSameBytes) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  const std::string bias_bytes = testing::WeightBytes(model, "B");
  const std::string output = model.graph().node(0).output(0);
  const std::string node_name = model.graph().node(0).name();

  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("biases-split"), 1);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  ASSERT_EQ(model.graph().node_size(), 2);
  const onnx::NodeProto& conv = model.graph().node(0);
  const onnx::NodeProto& add = model.graph().node(1);
  EXPECT_EQ(conv.name(), node_name);  // annotations name nodes
  EXPECT_EQ(conv.input_size(), 2);
  EXPECT_EQ(add.op_type(), "Add");
  EXPECT_EQ(add.input(0), conv.output(0));
  EXPECT_EQ(add.output(0), output);
  const onnx::TensorProto* broadcast = Initializer(model, add.input(1));
  ASSERT_NE(broadcast, nullptr);
  EXPECT_THAT(broadcast->dims(), ElementsAre(1, spec.out_channels, 1, 1, 1));
  EXPECT_EQ(testing::WeightBytes(model, add.input(1)), bias_bytes);

  // Nothing left to do the second time.
  auto again = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
}

TEST(SplitConvTransposeBias, TwoDIsLeftAloneUnlessAsked) {
  testing::ConvTransposeSpec spec;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->changed);
  result = testing::RunPasses(model, "split-conv-transpose-bias{ranks=all}");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  EXPECT_THAT(Initializer(model, model.graph().node(1).input(1))->dims(),
              ElementsAre(1, spec.out_channels, 1, 1));
}

TEST(SplitConvTransposeBias, BiasThatIsAGraphInputStaysWithARemark) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::ValueInfoProto* input = model.mutable_graph()->add_input();
  input->set_name("B");
  input->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  input->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(
      spec.out_channels);
  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  ASSERT_EQ(result->annotation.remarks_size(), 1);
  EXPECT_THAT(result->annotation.remarks(0).message(), ::testing::HasSubstr("graph input"));
}

TEST(Onnx2tfTarget, LeavesWeightsInOnnxLayoutAndStandardNodes) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  spec.dilations = {2, 1, 1};
  spec.auto_pad = "SAME_LOWER";
  spec.strides = {2, 2, 2};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto pipeline = TargetPipeline("onnx2tf");
  ASSERT_TRUE(pipeline.ok());
  auto result = testing::RunPasses(model, *pipeline);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(VerifyModel(model).ok());
  const onnx::NodeProto& conv = model.graph().node(0);
  EXPECT_EQ(conv.op_type(), "ConvTranspose");
  for (const auto& attr : conv.attribute()) {
    EXPECT_NE(attr.name(), "auto_pad");
    if (attr.name() == "dilations") EXPECT_THAT(attr.ints(), ElementsAre(1, 1, 1));
  }
  EXPECT_EQ(result->annotation.tensors_size(), 0);  // no TF-layout tensor
}

}  // namespace
}  // namespace tflayout
