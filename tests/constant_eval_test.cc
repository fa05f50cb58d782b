// The constant evaluator on its own: the 16-bit float codecs against IEEE bit patterns, the
// tensor codec, and ops on small values whose results are written out by hand.
#include "lib/ir/constant_eval.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tflayout {
namespace constant_eval {
namespace {

using onnx::TensorProto;
using ::testing::ElementsAre;

TEST(HalfCodec, KnownBitPatterns) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);        // largest finite half
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);        // rounds past it: infinity
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(HalfCodec, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 (even mantissa) and 1 + 2^-10.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
}

TEST(HalfCodec, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(BfloatCodec, KnownBitPatternsAndRounding) {
  EXPECT_EQ(FloatToBfloat(1.0f), 0x3F80);
  EXPECT_EQ(BfloatToFloat(0x3F80), 1.0f);
  EXPECT_EQ(FloatToBfloat(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // halfway, to even
  EXPECT_EQ(FloatToBfloat(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // halfway, to even
  EXPECT_TRUE(std::isnan(BfloatToFloat(FloatToBfloat(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const float f = BfloatToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBfloat(f), b) << "bfloat16 0x" << std::hex << b;
  }
}

TEST(TensorCodec, EncodeDecodeKeepsTypeDimsAndValues) {
  for (int32_t type : {TensorProto::FLOAT, TensorProto::FLOAT16, TensorProto::BFLOAT16,
                       TensorProto::INT8, TensorProto::INT64, TensorProto::DOUBLE}) {
    Value v{type, {2, 3}, {1, -2, 3, 0.5, -4, 8}};
    if (type == TensorProto::INT8 || type == TensorProto::INT64) v.data[3] = 5;
    absl::StatusOr<Value> back = Decode(Encode(v, "t"));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->type, type);
    EXPECT_THAT(back->dims, ElementsAre(2, 3));
    EXPECT_EQ(back->data, v.data) << "type " << type;
  }
  TensorProto strings;
  strings.set_data_type(TensorProto::STRING);
  EXPECT_TRUE(absl::IsUnimplemented(Decode(strings).status()));
}

TEST(RoundTo, IntegersTruncateAndWrap) {
  EXPECT_EQ(RoundTo(TensorProto::INT8, 130), -126);
  EXPECT_EQ(RoundTo(TensorProto::UINT8, -1), 255);
  EXPECT_EQ(RoundTo(TensorProto::INT32, 2.7), 2);
  EXPECT_EQ(RoundTo(TensorProto::BOOL, 0.25), 1);
  EXPECT_EQ(RoundTo(TensorProto::FLOAT16, 1.0 + std::ldexp(1.0, -11)), 1.0);
}

onnx::NodeProto Node(const std::string& op) {
  onnx::NodeProto node;
  node.set_op_type(op);
  return node;
}

void AddInts(onnx::NodeProto& node, const std::string& name, std::vector<int64_t> values) {
  onnx::AttributeProto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

void AddInt(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

// weight_norm as torch exports it at opset 13: w = g * v / ReduceL2(v, axes 1.., keepdims).
TEST(EvalNode, WeightNormChain) {
  const Value v{TensorProto::FLOAT, {2, 2}, {3, 4, 6, 8}};
  const Value g{TensorProto::FLOAT, {2, 1}, {10, 1}};
  onnx::NodeProto norm = Node("ReduceL2");
  AddInts(norm, "axes", {1});
  AddInt(norm, "keepdims", 1);
  absl::StatusOr<Value> n = EvalNode(norm, {&v}, 13);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_THAT(n->dims, ElementsAre(2, 1));
  EXPECT_THAT(n->data, ElementsAre(5, 10));
  absl::StatusOr<Value> unit = EvalNode(Node("Div"), {&v, &*n}, 13);
  ASSERT_TRUE(unit.ok()) << unit.status();
  absl::StatusOr<Value> w = EvalNode(Node("Mul"), {&g, &*unit}, 13);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_THAT(w->dims, ElementsAre(2, 2));
  EXPECT_THAT(w->data, ElementsAre(6, 8, 0.6, 0.8));
}

TEST(EvalNode, TransposeReshapeConcatGather) {
  const Value x{TensorProto::FLOAT, {2, 3}, {0, 1, 2, 3, 4, 5}};
  onnx::NodeProto transpose = Node("Transpose");
  AddInts(transpose, "perm", {1, 0});
  absl::StatusOr<Value> t = EvalNode(transpose, {&x}, 13);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->dims, ElementsAre(3, 2));
  EXPECT_THAT(t->data, ElementsAre(0, 3, 1, 4, 2, 5));

  const Value shape{TensorProto::INT64, {2}, {-1, 2}};
  absl::StatusOr<Value> r = EvalNode(Node("Reshape"), {&x, &shape}, 13);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->dims, ElementsAre(3, 2));

  onnx::NodeProto concat = Node("Concat");
  AddInt(concat, "axis", 0);
  absl::StatusOr<Value> c = EvalNode(concat, {&x, &x}, 13);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->dims, ElementsAre(4, 3));

  const Value indices{TensorProto::INT64, {2}, {2, 0}};
  onnx::NodeProto gather = Node("Gather");
  AddInt(gather, "axis", 1);
  absl::StatusOr<Value> gathered = EvalNode(gather, {&x, &indices}, 13);
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  EXPECT_THAT(gathered->dims, ElementsAre(2, 2));
  EXPECT_THAT(gathered->data, ElementsAre(2, 0, 5, 3));
}

TEST(EvalNode, RefusesWhatItDoesNotKnow) {
  const Value x{TensorProto::FLOAT, {1}, {1}};
  EXPECT_TRUE(absl::IsUnimplemented(EvalNode(Node("Conv"), {&x}, 13).status()));
  EXPECT_FALSE(FoldedOps().contains("Conv"));
  EXPECT_TRUE(FoldedOps().contains("ReduceL2"));
  onnx::NodeProto bad_axis = Node("Concat");
  AddInt(bad_axis, "axis", 5);
  EXPECT_FALSE(EvalNode(bad_axis, {&x, &x}, 13).ok());
  EXPECT_FALSE(EvalNode(Node("Add"), {&x}, 13).ok());  // a missing input
}

}  // namespace
}  // namespace constant_eval
}  // namespace tflayout
