// Pad resolution (the ONNX specification's rule) and the resolve-conv-transpose-pads pass.
// python/tests/test_resolve_pads.py checks the same rule against ONNX Runtime.
#include "tflayout/conv_transpose.h"

#include <limits>
#include <map>

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

TEST(ResolvePads, OutputShapePastTheFullResultGrowsOutputPadding) {
  // ONNX's node test test_convtranspose_output_shape, axis 0: in 3, k 3, stride 3 -> full 9;
  // output_shape 10 -> total -1: one extra position at the end (bias only).
  auto a = Attrs("NOTSET", 3, 3, {10});
  ASSERT_TRUE(ResolvePads(a, {3}).ok());
  EXPECT_THAT(a.pads_begin, ElementsAre(0));
  EXPECT_THAT(a.pads_end, ElementsAre(0));
  EXPECT_THAT(a.output_padding, ElementsAre(1));
  EXPECT_TRUE(a.output_shape.empty());
  EXPECT_TRUE(StandardFormCanCarry(Attrs("NOTSET", 3, 3, {10}), a));

  // Far past the full size: in 4, k 3, stride 1 -> full 6; 20 -> 14 extra positions.
  auto far = Attrs("NOTSET", 1, 3, {20});
  ASSERT_TRUE(ResolvePads(far, {4}).ok());
  EXPECT_THAT(far.pads_begin, ElementsAre(0));
  EXPECT_THAT(far.pads_end, ElementsAre(0));
  EXPECT_THAT(far.output_padding, ElementsAre(14));
  EXPECT_FALSE(StandardFormCanCarry(Attrs("NOTSET", 1, 3, {20}), far));
}

TEST(ResolvePads, NegativeOddTotalsGoToTheEndWhateverAutoPadSays) {
  // ONNX Runtime puts every extra position at the end for SAME_UPPER and SAME_LOWER alike
  // when output_shape is given (python/tests/test_resolve_pads.py checks it).
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "NOTSET"}) {
    auto a = Attrs(mode, 2, 2, {12});  // in 4: full 2*3 + 2 = 8; total -4 ... and -3:
    ASSERT_TRUE(ResolvePads(a, {4}).ok()) << mode;
    EXPECT_THAT(a.pads_begin, ElementsAre(0)) << mode;
    EXPECT_THAT(a.pads_end, ElementsAre(0)) << mode;
    EXPECT_THAT(a.output_padding, ElementsAre(4)) << mode;
    auto odd = Attrs(mode, 2, 2, {9});
    ASSERT_TRUE(ResolvePads(odd, {4}).ok()) << mode;
    EXPECT_THAT(odd.pads_begin, ElementsAre(0)) << mode;
    EXPECT_THAT(odd.pads_end, ElementsAre(0)) << mode;
    EXPECT_THAT(odd.output_padding, ElementsAre(1)) << mode;
  }
}

TEST(ResolvePads, OutputPaddingAddsToTheExtension) {
  // in 3, k 2, stride 3, output_padding 1: full 2*3 + 2 + 1 = 9; output_shape 11 -> total -2.
  auto a = Attrs("NOTSET", 3, 2, {11});
  a.output_padding = {1};
  ASSERT_TRUE(ResolvePads(a, {3}).ok());
  EXPECT_THAT(a.pads_end, ElementsAre(0));
  EXPECT_THAT(a.output_padding, ElementsAre(3));
  auto original = Attrs("NOTSET", 3, 2, {11});
  original.output_padding = {1};
  EXPECT_FALSE(StandardFormCanCarry(original, a));  // 3 >= stride 3
}

TEST(ResolvePads, SameWithStrideAboveTheKernelClampsToTheFullResult) {
  // ONNX Runtime: in 3, k 1, stride 3 -> out 7 (the full result), not 9; pads 0, nothing added.
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    for (int64_t kernel : {1, 2}) {
      auto a = Attrs(mode, 3, kernel);
      ASSERT_TRUE(ResolvePads(a, {3}).ok()) << mode;
      EXPECT_THAT(a.pads_begin, ElementsAre(0)) << mode << kernel;
      EXPECT_THAT(a.pads_end, ElementsAre(0)) << mode << kernel;
      EXPECT_THAT(a.output_padding, ElementsAre(0)) << mode << kernel;
      EXPECT_EQ(a.auto_pad, "NOTSET");
    }
  }
}

TEST(ResolvePads, MixedAxesResolveEachByItsOwnSign) {
  ConvTransposeAttrs a = Attrs("SAME_UPPER", 1, 1, {});
  a.spatial_rank = 2;
  a.kernel_shape = {3, 3};
  a.strides = {3, 2};
  a.dilations = {1, 1};
  a.pads_begin = a.pads_end = a.output_padding = {0, 0};
  a.output_shape = {6, 8};  // in 3x3: full 9 and 7 -> totals 3 (begin 1, end 2) and -1
  ASSERT_TRUE(ResolvePads(a, {3, 3}).ok());
  EXPECT_THAT(a.pads_begin, ElementsAre(1, 0));
  EXPECT_THAT(a.pads_end, ElementsAre(2, 0));
  EXPECT_THAT(a.output_padding, ElementsAre(0, 1));
}

TEST(ResolvePads, HostileOutputShapesStayInRange) {
  // The grown output_padding is output_shape - (full - output_padding) <= output_shape.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto a = Attrs("NOTSET", 1, 3, {kMax});
  a.output_padding = {kMax / 2};
  ASSERT_TRUE(ResolvePads(a, {1}).ok());
  EXPECT_THAT(a.output_padding, ElementsAre(kMax - 3));
  auto b = Attrs("NOTSET", 1, 3, {std::numeric_limits<int64_t>::min()});
  EXPECT_FALSE(ResolvePads(b, {2}).ok());
}

TEST(ResolvePadsPass, OutputShapePastTheFullResultBecomesOutputPadding) {
  testing::ConvTransposeSpec spec;  // X 1x4x3x3, k 3
  spec.input_spatial = {3, 3};
  spec.strides = {3, 2};
  spec.output_shape = {10, 8};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  std::map<std::string, std::vector<int64_t>> attrs;
  for (const auto& attr : model.graph().node(0).attribute()) {
    attrs[attr.name()].assign(attr.ints().begin(), attr.ints().end());
  }
  EXPECT_EQ(attrs.count("output_shape"), 0u);
  EXPECT_THAT(attrs["pads"], ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(attrs["output_padding"], ElementsAre(1, 1));
}

TEST(ResolvePadsPass, ExtensionOfAStrideOrMoreKeepsOutputShapeWithARemark) {
  testing::ConvTransposeSpec spec;
  spec.input_spatial = {3, 3};
  spec.strides = {2, 2};
  spec.output_shape = {9, 7};  // full 7x7: 2 extra rows = the stride
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  const std::string before = model.graph().node(0).SerializeAsString();
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(model.graph().node(0).SerializeAsString(), before);
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), ::testing::HasSubstr("output_padding [2,0]"));
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

namespace tflayout {
namespace {

std::map<std::string, std::vector<int64_t>> IntsAttributes(const onnx::NodeProto& node) {
  std::map<std::string, std::vector<int64_t>> attrs;
  for (const auto& attr : node.attribute()) {
    attrs[attr.name()].assign(attr.ints().begin(), attr.ints().end());
  }
  return attrs;
}

// What tf2onnx writes for Keras Conv2DTranspose(padding="valid", output_padding=1): the extra
// row and column of the Keras output hold only the bias, which is output_padding.
TEST(ResolvePadsPass, NegativeEndPadsBecomeOutputPadding) {
  testing::ConvTransposeSpec spec;  // X 1x4x5x5, k 3
  spec.strides = {2, 3};
  spec.pads = {0, 0, -1, -2};
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  auto attrs = IntsAttributes(model.graph().node(0));
  EXPECT_THAT(attrs["pads"], ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(attrs["output_padding"], ElementsAre(1, 2));
  EXPECT_EQ(attrs.count("output_shape"), 0u);

  // Idempotent: a second run finds nothing to do.
  const std::string once = model.SerializeAsString();
  auto again = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(model.SerializeAsString(), once);
}

TEST(ResolvePadsPass, NegativeEndPadAddsToAnExistingOutputPaddingAndKeepsPositivePads) {
  testing::ConvTransposeSpec spec;
  spec.spatial_rank = 1;
  spec.strides = {4};
  spec.pads = {1, -2};
  spec.output_padding = {1};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  auto attrs = IntsAttributes(model.graph().node(0));
  EXPECT_THAT(attrs["pads"], ElementsAre(1, 0));
  EXPECT_THAT(attrs["output_padding"], ElementsAre(3));
}

// Output padding would reach the stride: ONNX can say that only with output_shape, which the
// pass then treats like any other output_shape past the full result (kept, with a remark).
TEST(ResolvePadsPass, NegativeEndPadOfAStrideOrMoreBecomesOutputShape) {
  testing::ConvTransposeSpec spec;  // in 5, k 3, stride 2: full 11
  spec.strides = {2, 2};
  spec.pads = {0, 0, -2, -1};  // out 11 + 2 = 13 rows, 11 + 1 = 12 columns
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  auto attrs = IntsAttributes(model.graph().node(0));
  EXPECT_EQ(attrs.count("pads"), 0u);
  EXPECT_THAT(attrs["output_shape"], ElementsAre(13, 12));
  // Reading it back gives the repaired pads: the extension in output_padding.
  ConvTransposeAttrs read = *ReadConvTransposeAttrs(model.graph().node(0), {4, 6, 3, 3});
  ASSERT_TRUE(ResolvePads(read, {5, 5}).ok());
  EXPECT_THAT(read.pads_begin, ElementsAre(0, 0));
  EXPECT_THAT(read.pads_end, ElementsAre(0, 0));
  EXPECT_THAT(read.output_padding, ElementsAre(2, 1));
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), ::testing::HasSubstr("output_padding [2,1]"));
}

// Cropping the beginning while extending the end by a stride or more has no standard form:
// output_shape past the full result never crops.
TEST(ResolvePadsPass, NegativeEndPadOfAStrideOrMoreWithABeginCropIsAnError) {
  testing::ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.pads = {1, 0, -2, 0};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("'deconv'"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("pads [1,0,-2,0]"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("no output_shape form"));
}

TEST(ResolvePadsPass, NegativeEndPadOfAStrideOrMoreNeedsTheInputShape) {
  testing::ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.pads = {0, 0, -2, 0};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
      ->mutable_shape()->mutable_dim(2)->set_dim_param("h");
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("'deconv'"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("pads"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("unknown"));
}

// A negative begin pad has no ONNX meaning; tf2onnx writes one when it splits a negative total
// padding (Keras: stride above the kernel, or output_padding >= 2) in halves, and means what
// TensorFlow computes: the whole extension at the end (python/tests/test_tf2onnx.py checks it
// against Keras).
TEST(ResolvePadsPass, Tf2onnxNegativeTotalsExtendTheEnd) {
  testing::ConvTransposeSpec spec;  // in 5, k 3, stride 3: full 15
  spec.strides = {3, 3};
  spec.pads = {-1, 0, -1, -2};
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.set_producer_name("tf2onnx");
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_TRUE(result.ok()) << result.status();
  auto attrs = IntsAttributes(model.graph().node(0));
  EXPECT_THAT(attrs["pads"], ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(attrs["output_padding"], ElementsAre(2, 2));
}

TEST(ResolvePadsPass, NegativeBeginPadFromAnotherProducerIsAnErrorNamingNodeAndAttribute) {
  testing::ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.pads = {0, -1, 0, 0};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("'deconv'"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("pads [0,-1,0,0]"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("begin pad on axis 1"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("'tflayout-tests'"));
}

TEST(ResolvePadsPass, NegativeBeginPadBesideAPositiveEndPadIsAnError) {
  testing::ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.pads = {-1, 0, 1, 0};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  model.set_producer_name("tf2onnx");
  auto result = testing::RunPasses(model, "resolve-conv-transpose-pads");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("'deconv'"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("pads [-1,0,1,0]"));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("positive end pad on axis 0"));
}

// Passes after this one read pads through ReadConvTransposeAttrs, which names the repair.
TEST(ResolvePads, ReadingNegativePadsNamesTheRepairingPass) {
  testing::ConvTransposeSpec spec;
  spec.pads = {0, 0, -1, -1};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto attrs = ReadConvTransposeAttrs(model.graph().node(0), {4, 6, 3, 3});
  ASSERT_FALSE(attrs.ok());
  EXPECT_THAT(attrs.status().message(), ::testing::HasSubstr("'deconv'"));
  EXPECT_THAT(attrs.status().message(), ::testing::HasSubstr("resolve-conv-transpose-pads"));
}

}  // namespace
}  // namespace tflayout
