// The annotation's JSON: numbers as JSON numbers (schema 2), proto field names, and
// annotations written by schema 1 (int64 values as JSON strings) still read.
#include "tflayout/annotation.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

Annotation SampleAnnotation() {
  Annotation a;
  RewrittenTensor* t = a.add_tensors();
  t->set_tensor("main.0.weight__tf");
  t->set_source("main.0.weight");
  t->set_node("/main/main.0/ConvTranspose");
  for (int64_t v : {2, 3, 1, 0}) t->add_perm(v);
  for (int64_t v : {16, 32, 4, 4}) t->add_onnx_dims(v);
  for (int64_t v : {4, 4, 32, 16}) t->add_tf_dims(v);
  t->set_form("compensate");
  TfConvSettings* tf = t->mutable_tf();
  for (int64_t v : {1, 1}) tf->add_strides(v), tf->add_dilations(v);
  for (int64_t v : {0, 0}) {
    tf->add_pads_begin(v);
    tf->add_pads_end(v);
    tf->add_output_padding(v);
  }
  tf->set_group(1);
  tf->set_pads_resolved(true);
  t->set_storage("initializer");
  t->set_data_type(1);
  Remark* r = a.add_remarks();
  r->set_pass("conv-transpose-to-tf");
  r->set_node("n");
  r->set_tensor("W");
  r->set_message("weight left alone");
  return a;
}

TEST(AnnotationJson, NumbersAreJsonNumbers) {
  auto json = ToJson(SampleAnnotation());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            "{\"tensors\":[{\"tensor\":\"main.0.weight__tf\",\"source\":\"main.0.weight\","
            "\"node\":\"/main/main.0/ConvTranspose\",\"perm\":[2,3,1,0],"
            "\"onnx_dims\":[16,32,4,4],\"tf_dims\":[4,4,32,16],\"form\":\"compensate\","
            "\"tf\":{\"strides\":[1,1],\"dilations\":[1,1],\"pads_begin\":[0,0],"
            "\"pads_end\":[0,0],\"output_padding\":[0,0],\"group\":1,\"pads_resolved\":true},"
            "\"storage\":\"initializer\",\"data_type\":1}],"
            "\"remarks\":[{\"pass\":\"conv-transpose-to-tf\",\"node\":\"n\",\"tensor\":\"W\","
            "\"message\":\"weight left alone\"}]}");
}

TEST(AnnotationJson, WrittenWithSchemaVersion3AndReadBack) {
  onnx::ModelProto model;
  ASSERT_TRUE(WriteAnnotation(SampleAnnotation(), model).ok());
  ASSERT_EQ(model.metadata_props_size(), 1);
  EXPECT_THAT(model.metadata_props(0).value(), HasSubstr("\"schema_version\":3,"));
  EXPECT_EQ(kAnnotationSchemaVersion, 3);
  auto back = ReadAnnotation(model);
  ASSERT_TRUE(back.ok()) << back.status();
  Annotation want = SampleAnnotation();
  want.set_schema_version(3);
  want.set_tool_version(ToolVersion());
  EXPECT_EQ(back->SerializeAsString(), want.SerializeAsString());
}

TEST(AnnotationJson, ReadsSchema1WithInt64AsStrings) {
  // Verbatim what schema 1 (protobuf's proto3 JSON mapping) wrote.
  onnx::ModelProto model;
  auto* kv = model.add_metadata_props();
  kv->set_key(kAnnotationKey);
  kv->set_value(
      "{\"schema_version\":1,\"tool_version\":\"0.1.0\",\"tensors\":[{\"tensor\":"
      "\"main.0.weight__tf\",\"source\":\"main.0.weight\",\"node\":\"/main/main.0/ConvTranspose\","
      "\"perm\":[\"2\",\"3\",\"1\",\"0\"],\"onnx_dims\":[\"16\",\"32\",\"4\",\"4\"],\"tf_dims\":"
      "[\"4\",\"4\",\"32\",\"16\"],\"form\":\"compensate\",\"tf\":{\"strides\":[\"1\",\"1\"],"
      "\"dilations\":[\"1\",\"1\"],\"pads_begin\":[\"0\",\"0\"],\"pads_end\":[\"0\",\"0\"],"
      "\"output_padding\":[\"0\",\"0\"],\"group\":\"1\",\"pads_resolved\":true},\"storage\":"
      "\"initializer\",\"data_type\":1}],\"remarks\":[{\"pass\":\"conv-transpose-to-tf\","
      "\"node\":\"n\",\"tensor\":\"W\",\"message\":\"weight left alone\"}]}");
  auto read = ReadAnnotation(model);
  ASSERT_TRUE(read.ok()) << read.status();
  Annotation want = SampleAnnotation();
  want.set_schema_version(1);
  want.set_tool_version("0.1.0");
  EXPECT_EQ(read->SerializeAsString(), want.SerializeAsString());
}

// Wire bytes with map entries in key order: SerializeAsString orders a map as its hash table
// happens to iterate, so two equal messages with a map can differ byte for byte.
std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// Whatever ToJson writes, protobuf's own JSON parser reads back to the same message.
template <typename M>
void ExpectRoundTrip(const M& message) {
  auto json = ToJson(message);
  ASSERT_TRUE(json.ok()) << json.status();
  M back;
  auto status = google::protobuf::util::JsonStringToMessage(*json, &back);
  ASSERT_TRUE(status.ok()) << status.ToString() << " in " << *json;
  EXPECT_EQ(DeterministicBytes(back), DeterministicBytes(message)) << *json;
}

TEST(AnnotationJson, StringsAreEscaped) {
  Annotation a;
  Remark* r = a.add_remarks();
  r->set_node("quote \" backslash \\ newline \n tab \t bell \x07 del \x7f");
  r->set_tensor("caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80");  // UTF-8, U+2028, an emoji
  r->set_message(std::string("nul \0 inside", 12));
  ExpectRoundTrip(a);
  auto json = ToJson(a);
  EXPECT_THAT(*json, HasSubstr("quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007"));
}

TEST(AnnotationJson, LargeAndNegativeInt64AreExact) {
  Annotation a;
  RewrittenTensor* t = a.add_tensors();
  t->add_onnx_dims(std::numeric_limits<int64_t>::max());
  t->add_onnx_dims(std::numeric_limits<int64_t>::min());
  t->add_onnx_dims(-1);
  t->add_onnx_dims(0);
  t->mutable_tf()->set_group((int64_t{1} << 60) + 1);
  ExpectRoundTrip(a);
  EXPECT_THAT(*ToJson(a), HasSubstr("[9223372036854775807,-9223372036854775808,-1,0]"));
}

TEST(AnnotationJson, ReportMapsAndDoubles) {
  RunReport report;
  report.set_input("in.onnx");
  PassReport* p = report.add_passes();
  p->set_name("conv-transpose-to-tf");
  p->set_changed(true);
  p->set_seconds(0.1);
  (*p->mutable_statistics())["weights-rewritten"] = 4;
  (*p->mutable_statistics())["bytes-permuted"] = 75264;
  report.set_bytes_permuted(75264);
  report.set_load_seconds(1.0 / 3.0);
  report.set_write_seconds(2.5e-7);
  ExpectRoundTrip(report);
  auto json = ToJson(report);
  EXPECT_THAT(*json, HasSubstr("\"statistics\":{\"bytes-permuted\":75264,\"weights-rewritten\":4}"));
  EXPECT_THAT(*json, HasSubstr("\"seconds\":0.1,"));
  EXPECT_THAT(*json, HasSubstr("\"bytes_permuted\":75264"));

  RunReport odd;
  odd.set_load_seconds(std::numeric_limits<double>::infinity());
  odd.set_write_seconds(std::nan(""));
  ExpectRoundTrip(odd);  // as protobuf writes them: "Infinity", "NaN"
}

}  // namespace
}  // namespace tflayout
