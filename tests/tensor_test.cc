// Tensor views: element sizes, checked counts, slots in raw and typed storage.
#include "tflayout/tensor.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tflayout {
namespace {

TEST(Tensor, ElementSizes) {
  EXPECT_EQ(RawElementSize(onnx::TensorProto::FLOAT), 4u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::FLOAT16), 2u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::BFLOAT16), 2u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::DOUBLE), 8u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::INT8), 1u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::COMPLEX128), 16u);
  EXPECT_EQ(RawElementSize(onnx::TensorProto::STRING), 0u);
  EXPECT_EQ(RawElementSize(999), 0u);
  EXPECT_EQ(DataTypeName(999), "UNKNOWN(999)");
}

TEST(Tensor, CountRejectsNegativeAndOverflowingDims) {
  onnx::TensorProto t;
  t.set_name("w");
  t.add_dims(-1);
  EXPECT_FALSE(CheckedElementCount(t).ok());
  t.clear_dims();
  t.add_dims(int64_t{1} << 40);
  t.add_dims(int64_t{1} << 40);
  EXPECT_FALSE(CheckedElementCount(t).ok());
  t.clear_dims();
  EXPECT_EQ(CheckedElementCount(t).value(), 1);  // a scalar
}

TEST(Tensor, SlotsOfTypedFloat16AreInt32Wide) {
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT16);
  t.add_dims(3);
  for (int v : {0x3c00, 0x4000, 0x4200}) t.add_int32_data(v);
  auto slots = GetMutableSlots(t);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->slot_size, 4u);
  EXPECT_EQ(slots->count, 3);
  auto bytes = ReadElementBytes(t);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, std::string("\x00\x3c\x00\x40\x00\x42", 6));
}

TEST(Tensor, CountMismatchIsAnError) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(4);
  t.set_raw_data(std::string(12, '\0'));
  auto slots = GetMutableSlots(t);
  ASSERT_FALSE(slots.ok());
  EXPECT_THAT(std::string(slots.status().message()), ::testing::HasSubstr("'w'"));
  t.clear_raw_data();
  t.add_float_data(1);
  EXPECT_FALSE(GetMutableSlots(t).ok());
}

TEST(Tensor, UnknownTypeIsUnimplemented) {
  onnx::TensorProto t;
  t.set_data_type(999);
  t.add_dims(1);
  t.set_raw_data("x");
  EXPECT_TRUE(absl::IsUnimplemented(GetMutableSlots(t).status()));
}

}  // namespace
}  // namespace tflayout
