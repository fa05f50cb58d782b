// Passes of the onnx2tf target (tflayout/targets.h). Numerics through the real onnx2tf are in
// python/tests/test_onnx2tf_*.py; these pin the structure and the exact bytes.
#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/verify.h"
#include "tflayout/graph_view.h"
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

// The little-endian bytes of `count` float32 copies of `value`.
std::string Floats(int count, float value) {
  std::string bytes;
  for (int i = 0; i < count; ++i) bytes.append(reinterpret_cast<const char*>(&value), 4);
  return bytes;
}

TEST(SplitConvTransposeBias, ThreeDBiasMovesIntoABatchNormalizationThatOnlyAdds) {
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
  const onnx::NodeProto& deconv = model.graph().node(0);
  const onnx::NodeProto& bn = model.graph().node(1);
  EXPECT_EQ(deconv.name(), node_name);  // annotations name nodes
  EXPECT_EQ(deconv.input_size(), 2);
  EXPECT_EQ(bn.op_type(), "BatchNormalization");
  ASSERT_EQ(bn.input_size(), 5);
  EXPECT_EQ(bn.input(0), deconv.output(0));
  EXPECT_EQ(bn.input(2), "B");  // the bias tensor itself, untouched
  EXPECT_EQ(bn.output(0), output);
  EXPECT_EQ(testing::WeightBytes(model, "B"), bias_bytes);
  const int m = static_cast<int>(spec.out_channels);
  EXPECT_EQ(testing::WeightBytes(model, bn.input(1)), Floats(m, 1.0f));  // scale
  EXPECT_EQ(testing::WeightBytes(model, bn.input(3)), Floats(m, 0.0f));  // mean
  EXPECT_EQ(testing::WeightBytes(model, bn.input(4)), Floats(m, 1.0f));  // variance
  ASSERT_EQ(bn.attribute_size(), 1);
  EXPECT_EQ(bn.attribute(0).name(), "epsilon");
  EXPECT_EQ(bn.attribute(0).f(), 0.0f);

  // Nothing left to do the second time.
  auto again = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
}

TEST(SplitConvTransposeBias, TwoDAndGroupedThreeDAreLeftAlone) {
  testing::ConvTransposeSpec spec;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->changed);
  spec.spatial_rank = 3;
  spec.group = 2;
  model = testing::MakeConvTransposeModel(spec);
  result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->changed);
}

TEST(SplitConvTransposeBias, Float16StatisticsHoldHalfPrecisionOnes) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  spec.out_channels = 2;
  spec.data_type = onnx::TensorProto::FLOAT16;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ASSERT_TRUE(testing::RunPasses(model, "split-conv-transpose-bias").ok());
  EXPECT_EQ(testing::WeightBytes(model, model.graph().node(1).input(1)),
            std::string("\x00\x3c\x00\x3c", 4));
  EXPECT_EQ(testing::WeightBytes(model, model.graph().node(1).input(3)), std::string(4, '\0'));
}

// torch.onnx.export at opset 8 (IR 3, every initializer a graph input): BatchNormalization-7
// (spatial defaults to 1: per channel, as from opset 9) adds the bias the same way, and the
// statistics it reads are listed as graph inputs, as IR 3 requires of every initializer.
// Found by test_onnx2tf_real_exporters (grouped_dilated_outpad_3d at opset 8: the bias stayed
// in the node, onnx2tf dropped it, rel. error 0.57 with --target=onnx2tf).
TEST(SplitConvTransposeBias, Ir3Opset8SplitsWithStatisticsListedAsInputs) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.set_ir_version(3);
  model.mutable_opset_import(0)->set_version(8);
  for (const auto& init : model.graph().initializer()) AddInitializerInput(*model.mutable_graph(), init);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);

  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->passes[0].changed);
  EXPECT_EQ(result->passes[0].statistics.at("biases-split"), 1);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  ASSERT_EQ(model.graph().node_size(), 2);
  const onnx::NodeProto& bn = model.graph().node(1);
  EXPECT_EQ(bn.op_type(), "BatchNormalization");
  ASSERT_EQ(bn.attribute_size(), 1);  // epsilon only: spatial keeps its default, 1
  EXPECT_EQ(bn.attribute(0).name(), "epsilon");
  for (const auto& init : model.graph().initializer()) {
    bool listed = false;
    for (const auto& input : model.graph().input()) listed |= input.name() == init.name();
    EXPECT_TRUE(listed) << init.name() << " is not a graph input (IR 3)";
  }
}

TEST(SplitConvTransposeBias, BelowOpset7TheBiasStays) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 3;
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.set_ir_version(3);
  model.mutable_opset_import(0)->set_version(6);  // BatchNormalization-6: is_test, spatial
  for (const auto& init : model.graph().initializer()) AddInitializerInput(*model.mutable_graph(), init);
  auto result = testing::RunPasses(model, "split-conv-transpose-bias");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_EQ(model.graph().node_size(), 1);
  EXPECT_EQ(model.graph().node(0).input_size(), 3);
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
