// Pad resolution (the ONNX specification's rule) and the resolve-conv-transpose-pads pass.
// python/tests/test_resolve_pads.py checks the same rule against ONNX Runtime.
#include "tflayout/conv_transpose.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/annotation.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::ElementsAre;

ConvTransposeAttrs Attrs(const std::string& auto_pad, int64_t stride, int64_t kernel,
                         std::vector<int64_t> output_shape = {}) {
  ConvTransposeAttrs a;
  a.spatial_rank = 1;
  a.kernel_shape = {kernel};
  a.strides = {stride};
  a.dilations = {1};
  a.pads_begin = {0};
  a.pads_end = {0};
  a.output_padding = {0};
  a.auto_pad = auto_pad;
  a.output_shape = std::move(output_shape);
  return a;
}

TEST(ResolvePads, SameUpperPutsTheOddPadAtTheEnd) {
  // in 5, stride 2 -> out 10; full = 2*4 + 4 = 12; total 2 -> 1/1
  auto a = Attrs("SAME_UPPER", 2, 4);
  ASSERT_TRUE(ResolvePads(a, {5}).ok());
  EXPECT_THAT(a.pads_begin, ElementsAre(1));
  EXPECT_THAT(a.pads_end, ElementsAre(1));
  // kernel 3: full 11, total 1 -> begin 0, end 1
  auto b = Attrs("SAME_UPPER", 2, 3);
  ASSERT_TRUE(ResolvePads(b, {5}).ok());
  EXPECT_THAT(b.pads_begin, ElementsAre(0));
  EXPECT_THAT(b.pads_end, ElementsAre(1));
  EXPECT_EQ(b.auto_pad, "NOTSET");
}

TEST(ResolvePads, SameLowerPutsTheOddPadAtTheBeginning) {
  auto a = Attrs("SAME_LOWER", 2, 3);
  ASSERT_TRUE(ResolvePads(a, {5}).ok());
  EXPECT_THAT(a.pads_begin, ElementsAre(1));
  EXPECT_THAT(a.pads_end, ElementsAre(0));
}

TEST(ResolvePads, OutputShapeWithNotSet) {
  // full = 3*(4-1) + 5 = 14; requested 11 -> total 3 -> begin 2, end 1
  auto a = Attrs("NOTSET", 3, 5, {11});
  ASSERT_TRUE(ResolvePads(a, {4}).ok());
  EXPECT_THAT(a.pads_begin, ElementsAre(2));
  EXPECT_THAT(a.pads_end, ElementsAre(1));
  EXPECT_TRUE(a.output_shape.empty());
}

TEST(ResolvePads, NegativeTotalIsRefused) {
  auto a = Attrs("NOTSET", 1, 3, {20});
  EXPECT_TRUE(absl::IsUnimplemented(ResolvePads(a, {4})));
}

TEST(ResolvePadsPass, RewritesAttributesAndLeavesUnknownShapesWithARemark) {
  testing::ConvTransposeSpec spec;
  spec.auto_pad = "SAME_LOWER";
  spec.strides = {2, 2};
  spec.input_spatial = {5, 4};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  const onnx::NodeProto& node = model.graph().node(0);
  bool has_auto_pad = false;
  std::vector<int64_t> pads;
  for (const auto& attr : node.attribute()) {
    has_auto_pad |= attr.name() == "auto_pad";
    if (attr.name() == "pads") pads.assign(attr.ints().begin(), attr.ints().end());
  }
  EXPECT_FALSE(has_auto_pad);
  EXPECT_THAT(pads, ElementsAre(1, 1, 0, 0));

  testing::ConvTransposeSpec unknown = spec;
  onnx::ModelProto dynamic = testing::MakeConvTransposeModel(unknown);
  dynamic.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
      ->mutable_shape()->mutable_dim(3)->set_dim_param("w");
  auto kept = testing::RunPasses(dynamic, "resolve-conv-transpose-pads");
  ASSERT_TRUE(kept.ok());
  auto annotation = ReadAnnotation(dynamic);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), ::testing::HasSubstr("kept"));
}

}  // namespace
}  // namespace tflayout
