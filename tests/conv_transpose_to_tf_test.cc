// conv-transpose-to-tf and conv-transpose-from-tf: exact element mapping for every element
// type x rank x group x storage, idempotence, the inverse, shared weights, subgraphs, and the
// custom-op form.
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/model_io.h"
#include "tflayout/pass_manager.h"
#include "tflayout/tensor.h"
#include "lib/ir/verify.h"
#include "tflayout/register_builtin_passes.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;
using testing::ConvTransposeSpec;
using testing::WeightStorage;

// Loads the model through a file, as the tool does (external data is read here).
onnx::ModelProto SaveAndLoad(onnx::ModelProto& model, const std::string& folder) {
  const std::string path = folder + "/model.onnx";
  EXPECT_TRUE(SaveModel(model, path).ok());
  auto loaded = LoadModel(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? std::move(loaded->model) : onnx::ModelProto();
}

const onnx::TensorProto* FindTensor(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  for (const auto& node : model.graph().node()) {
    if (node.op_type() == "Constant" && node.output(0) == name) return &node.attribute(0).t();
  }
  return nullptr;
}

// W_tf[k..., o, i] == W[i, o, k...] for every element, comparing raw element bytes.
void ExpectTfLayout(const std::string& onnx_bytes, const std::string& tf_bytes,
                    const std::vector<int64_t>& onnx_dims, size_t elem) {
  const int64_t a = onnx_dims[0], b = onnx_dims[1];
  int64_t s = 1;
  for (size_t i = 2; i < onnx_dims.size(); ++i) s *= onnx_dims[i];
  ASSERT_EQ(onnx_bytes.size(), tf_bytes.size());
  int mismatches = 0;
  for (int64_t i = 0; i < a; ++i) {
    for (int64_t o = 0; o < b; ++o) {
      for (int64_t k = 0; k < s; ++k) {
        const size_t from = static_cast<size_t>((i * b + o) * s + k) * elem;
        const size_t to = static_cast<size_t>((k * b + o) * a + i) * elem;
        if (onnx_bytes.compare(from, elem, tf_bytes, to, elem) != 0 && ++mismatches < 5) {
          ADD_FAILURE() << "W[" << i << "," << o << ",k=" << k << "] not at W_tf[k," << o << ","
                        << i << "]";
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

using Combination = std::tuple<int32_t, int, int64_t, WeightStorage>;

class ElementMappingTest : public ::testing::TestWithParam<Combination> {};

TEST_P(ElementMappingTest, RewritesToTfLayoutAndBack) {
  const auto [type, rank, group, storage] = GetParam();
  ConvTransposeSpec spec;
  spec.data_type = type;
  spec.spatial_rank = rank;
  spec.group = group;
  spec.in_channels = 4;
  spec.out_channels = 6;
  spec.storage = storage;
  spec.kernel = std::vector<int64_t>(rank, 2);
  spec.kernel[0] = 3;  // non-square kernels catch axis mix-ups
  spec.input_spatial = std::vector<int64_t>(rank, 3);
  const std::string folder = testing::MakeTempDir();
  onnx::ModelProto built = testing::MakeConvTransposeModel(spec, folder);
  onnx::ModelProto model = SaveAndLoad(built, folder);
  const std::string original_bytes = testing::WeightBytes(model, "W");
  const std::vector<int64_t> onnx_dims = testing::WeightDims(spec);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);

  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);

  const onnx::TensorProto* tf = FindTensor(model, "W__tf");
  ASSERT_NE(tf, nullptr);
  std::vector<int64_t> tf_dims(tf->dims().begin(), tf->dims().end());
  std::vector<int64_t> expected_dims(onnx_dims.begin() + 2, onnx_dims.end());
  expected_dims.push_back(onnx_dims[1]);
  expected_dims.push_back(onnx_dims[0]);
  EXPECT_EQ(tf_dims, expected_dims);
  // Typed tensors stay typed: the file layout of untouched storage kinds is kept.
  EXPECT_EQ(StorageOf(*tf), storage == WeightStorage::kTyped ? TensorStorage::kTyped
                                                              : TensorStorage::kRaw);
  ExpectTfLayout(original_bytes, testing::WeightBytes(model, "W__tf"), onnx_dims,
                 RawElementSize(type));
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);

  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 1);
  const RewrittenTensor& entry = annotation->tensors(0);
  EXPECT_EQ(entry.tensor(), "W__tf");
  EXPECT_EQ(entry.source(), "W");
  EXPECT_EQ(entry.node(), "deconv");
  EXPECT_EQ(entry.form(), "compensate");
  EXPECT_EQ(std::vector<int64_t>(entry.perm().begin(), entry.perm().end()), OnnxToTfPerm(rank + 2));
  EXPECT_EQ(entry.tf().group(), group);
  EXPECT_EQ(entry.storage(), storage == WeightStorage::kConstantNode ? "constant" : "initializer");

  // Idempotent: a second run changes nothing at all.
  const std::string once = model.SerializeAsString();
  auto again = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(model.SerializeAsString(), once);

  // The inverse restores the original weight bit for bit.
  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(testing::WeightBytes(model, "W"), original_bytes);
  EXPECT_EQ(FindTensor(model, "W__tf"), nullptr);
  EXPECT_EQ(model.SerializeAsString(), onnx::ModelProto(SaveAndLoad(built, folder)).SerializeAsString());
}

std::string CombinationName(const ::testing::TestParamInfo<Combination>& info) {
  const auto [type, rank, group, storage] = info.param;
  return absl::StrCat(DataTypeName(type), "_", rank, "d_g", group, "_",
                      testing::StorageName(storage));
}

INSTANTIATE_TEST_SUITE_P(
    AllTypesRanksGroupsStorages, ElementMappingTest,
    ::testing::Combine(::testing::Values(onnx::TensorProto::FLOAT, onnx::TensorProto::FLOAT16,
                                         onnx::TensorProto::BFLOAT16, onnx::TensorProto::DOUBLE,
                                         onnx::TensorProto::INT8, onnx::TensorProto::UINT8),
                       ::testing::Values(1, 2, 3, 4), ::testing::Values(int64_t{1}, int64_t{2}),
                       ::testing::Values(WeightStorage::kRaw, WeightStorage::kTyped,
                                         WeightStorage::kExternal, WeightStorage::kConstantNode)),
    CombinationName);

// Regression: dims of 1 are not no-ops. (1, B, S) -> (S, B, 1) is a B x S transpose and
// (A, B, 1) -> (1, B, A) an A x B transpose; an early "A <= 1 || S <= 1" return once left such
// weights (C_in = 1, or 1x1 kernels) in ONNX order.
TEST(ConvTransposeToTf, SingleInputChannelAndOneByOneKernels) {
  struct Shape { int64_t in, out; std::vector<int64_t> kernel; };
  for (const Shape& shape : {Shape{1, 5, {3, 2}}, Shape{4, 6, {1, 1}}, Shape{1, 1, {3, 3}},
                             Shape{3, 1, {1, 1}}, Shape{1, 4, {1}}}) {
    ConvTransposeSpec spec;
    spec.in_channels = shape.in;
    spec.out_channels = shape.out;
    spec.kernel = shape.kernel;
    spec.spatial_rank = static_cast<int>(shape.kernel.size());
    onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
    const std::string original = testing::WeightBytes(model, "W");
    ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf").ok());
    ExpectTfLayout(original, testing::WeightBytes(model, "W__tf"), testing::WeightDims(spec), 4);
    ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
    EXPECT_EQ(testing::WeightBytes(model, "W"), original);
  }
}

onnx::ModelProto BaseModel() {
  ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.pads = {1, 0, 1, 1};
  return testing::MakeConvTransposeModel(spec);
}

TEST(ConvTransposeToTf, SharedWeightIsRewrittenOnceForAllReaders) {
  onnx::ModelProto model = BaseModel();
  onnx::NodeProto second = model.graph().node(0);
  second.set_name("deconv2");
  second.set_output(0, "Y2");
  *model.mutable_graph()->add_node() = second;
  onnx::NodeProto identity;  // another op reading W keeps seeing ONNX layout
  identity.set_name("peek");
  identity.set_op_type("Identity");
  identity.add_input("W");
  identity.add_output("W_copy");
  *model.mutable_graph()->add_node() = identity;
  *model.mutable_graph()->add_output() = model.graph().output(0);
  model.mutable_graph()->mutable_output(1)->set_name("Y2");
  const std::string original = testing::WeightBytes(model, "W");

  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("weights-rewritten"), 1);
  EXPECT_EQ(result->passes[0].statistics.at("nodes-annotated"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("transposes-inserted"), 1);
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  // The Transpose that rebuilds W comes first, so the graph stays sorted.
  EXPECT_EQ(model.graph().node(0).op_type(), "Transpose");
  EXPECT_EQ(model.graph().node(0).output(0), "W");
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->tensors_size(), 2);
  EXPECT_EQ(annotation->tensors(0).node(), "deconv");
  EXPECT_EQ(annotation->tensors(1).node(), "deconv2");
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
  EXPECT_EQ(testing::WeightBytes(model, "W"), original);
}

TEST(ConvTransposeToTf, CustomOpFormReadsTfWeightDirectly) {
  onnx::ModelProto model = BaseModel();
  auto result = testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  ASSERT_EQ(model.graph().node_size(), 1);  // no Transpose: nothing reads ONNX layout
  const onnx::NodeProto& node = model.graph().node(0);
  EXPECT_EQ(node.op_type(), "ConvTransposeTF");
  EXPECT_EQ(node.domain(), "tflayout");
  EXPECT_EQ(node.input(1), "W__tf");
  bool has_domain = false;
  for (const auto& op : model.opset_import()) has_domain |= op.domain() == "tflayout";
  EXPECT_TRUE(has_domain);
  auto annotation = ReadAnnotation(model);
  const TfConvSettings& tf = annotation->tensors(0).tf();
  EXPECT_TRUE(tf.pads_resolved());
  EXPECT_THAT(tf.pads_begin(), ::testing::ElementsAre(1, 0));
  EXPECT_THAT(tf.pads_end(), ::testing::ElementsAre(1, 1));
  EXPECT_THAT(tf.strides(), ::testing::ElementsAre(2, 2));

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(model.graph().node(0).op_type(), "ConvTranspose");
  EXPECT_EQ(model.graph().node(0).input(1), "W");
  EXPECT_EQ(model.opset_import_size(), 1);
  EXPECT_TRUE(VerifyModel(model).ok());
}

// An output_shape past the full result by a stride or more: the custom op carries the extension
// as output_padding >= stride, which a standard node cannot (ONNX requires output_padding below
// the stride, ONNX Runtime miscomputes it in 2-D). Going back, the node gets its output_shape.
TEST(ConvTransposeFromTf, ExtensionOfAStrideOrMoreComesBackAsOutputShape) {
  ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.kernel = {2, 2};
  spec.input_spatial = {4, 4};
  spec.output_shape = {14, 9};  // full 2*3 + 2 = 8: extensions 6 (>= stride) and 1
  spec.with_bias = true;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  const onnx::NodeProto original = model.graph().node(0);
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  ASSERT_EQ(model.graph().node(0).op_type(), "ConvTransposeTF");

  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_TRUE(back.ok()) << back.status();
  const onnx::NodeProto& node = model.graph().node(0);
  EXPECT_EQ(node.op_type(), "ConvTranspose");
  auto attrs = ReadConvTransposeAttrs(node, {4, 6, 2, 2});
  ASSERT_TRUE(attrs.ok()) << attrs.status();
  EXPECT_THAT(attrs->output_shape, ::testing::ElementsAre(14, 9));
  for (int i = 0; i < 2; ++i) EXPECT_LT(attrs->output_padding[i], attrs->strides[i]);
  // Resolving the restored node gives what the original resolves to.
  auto want = ReadConvTransposeAttrs(original, {4, 6, 2, 2});
  ASSERT_TRUE(want.ok());
  ASSERT_TRUE(ResolvePads(*want, {4, 4}).ok());
  ASSERT_TRUE(ResolvePads(*attrs, {4, 4}).ok());
  EXPECT_EQ(attrs->pads_begin, want->pads_begin);
  EXPECT_EQ(attrs->pads_end, want->pads_end);
  EXPECT_EQ(attrs->output_padding, want->output_padding);
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
}

// Without the input's spatial dims the output_shape cannot be computed: a clear error naming
// the node, rather than an invalid standard node.
TEST(ConvTransposeFromTf, ExtensionOfAStrideOrMoreWithoutShapesIsAnError) {
  ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.kernel = {2, 2};
  spec.input_spatial = {4, 4};
  spec.output_shape = {14, 9};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  auto* dims = model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
                   ->mutable_shape();
  dims->mutable_dim(2)->set_dim_param("h");
  auto back = testing::RunPasses(model, "conv-transpose-from-tf");
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(back.status().message(), ::testing::HasSubstr("deconv"));
  EXPECT_THAT(back.status().message(), ::testing::HasSubstr("output_padding"));
}

TEST(ConvTransposeToTf, CustomOpResolvesAutoPadFromInferredShapes) {
  ConvTransposeSpec spec;
  spec.strides = {2, 2};
  spec.auto_pad = "SAME_LOWER";
  spec.input_spatial = {5, 6};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  EXPECT_EQ(model.graph().node(0).op_type(), "ConvTransposeTF");
  auto annotation = ReadAnnotation(model);
  // total = 2*(5-1) + 3 - 10 = 1: SAME_LOWER puts the odd pad at the beginning.
  EXPECT_THAT(annotation->tensors(0).tf().pads_begin(), ::testing::ElementsAre(1, 1));
  EXPECT_THAT(annotation->tensors(0).tf().pads_end(), ::testing::ElementsAre(0, 0));
}

TEST(ConvTransposeToTf, UnknownShapeKeepsStandardNodeInCustomOpForm) {
  ConvTransposeSpec spec;
  spec.auto_pad = "SAME_UPPER";
  spec.strides = {2, 2};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto* dims = model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()
                   ->mutable_shape();
  dims->mutable_dim(2)->set_dim_param("height");  // spatial dim unknown
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  ASSERT_EQ(model.graph().node_size(), 2);
  EXPECT_EQ(model.graph().node(1).op_type(), "ConvTranspose");
  auto annotation = ReadAnnotation(model);
  EXPECT_EQ(annotation->tensors(0).form(), "compensate");
  EXPECT_FALSE(annotation->tensors(0).tf().pads_resolved());
  EXPECT_EQ(annotation->tensors(0).tf().auto_pad(), "SAME_UPPER");
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("pads not resolved"));
}

TEST(ConvTransposeToTf, WeightThatIsAGraphInputIsLeftAloneWithARemark) {
  onnx::ModelProto model = BaseModel();
  onnx::ValueInfoProto* input = model.mutable_graph()->add_input();
  input->set_name("W");
  *input->mutable_type() = model.graph().input(0).type();
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  auto annotation = ReadAnnotation(model);
  EXPECT_EQ(annotation->tensors_size(), 0);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("graph input"));
  EXPECT_EQ(annotation->remarks(0).tensor(), "W");
  // Running again adds no second remark.
  const std::string once = model.SerializeAsString();
  EXPECT_NE(once, before);
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf").ok());
  EXPECT_EQ(model.SerializeAsString(), once);
}

TEST(ConvTransposeToTf, NodeInsideIfBranchReadingOuterInitializer) {
  onnx::ModelProto model = BaseModel();
  onnx::GraphProto* graph = model.mutable_graph();
  onnx::NodeProto deconv = graph->node(0);
  graph->clear_node();
  // cond is an initializer; the ConvTranspose lives in both branches of an If.
  onnx::TensorProto* cond = graph->add_initializer();
  cond->set_name("cond");
  cond->set_data_type(onnx::TensorProto::BOOL);
  cond->set_raw_data(std::string(1, '\1'));
  onnx::NodeProto* if_node = graph->add_node();
  if_node->set_name("branch");
  if_node->set_op_type("If");
  if_node->add_input("cond");
  if_node->add_output("Y");
  for (const char* name : {"then_branch", "else_branch"}) {
    onnx::AttributeProto* attr = if_node->add_attribute();
    attr->set_name(name);
    attr->set_type(onnx::AttributeProto::GRAPH);
    onnx::GraphProto* body = attr->mutable_g();
    body->set_name(name);
    onnx::NodeProto* inner = body->add_node();
    *inner = deconv;
    inner->set_name(absl::StrCat(name, "_deconv"));
    inner->set_output(0, absl::StrCat(name, "_Y"));
    onnx::ValueInfoProto* out = body->add_output();
    *out = graph->output(0);
    out->set_name(absl::StrCat(name, "_Y"));
  }
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  const std::string original = testing::WeightBytes(model, "W");

  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_EQ(model.graph().node(0).op_type(), "Transpose");  // in the graph that owns W
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->tensors_size(), 2);
  EXPECT_EQ(annotation->tensors(0).graph(), "branch/then_branch");
  EXPECT_EQ(annotation->tensors(1).graph(), "branch/else_branch");

  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
  EXPECT_EQ(testing::WeightBytes(model, "W"), original);
}

TEST(ConvTransposeToTf, RejectsWeightThatDisagreesWithNode) {
  ConvTransposeSpec spec;
  spec.group = 3;  // 4 input channels are not divisible by 3
  spec.out_channels = 6;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("deconv"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("group 3"));
}

TEST(ConvTransposeToTf, UnsupportedElementTypeIsSkippedWithRemark) {
  onnx::ModelProto model = BaseModel();
  onnx::TensorProto* w = model.mutable_graph()->mutable_initializer(0);
  w->set_data_type(onnx::TensorProto::STRING);
  w->clear_raw_data();
  for (int i = 0; i < 4 * 6 * 9; ++i) w->add_string_data("x");
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  auto annotation = ReadAnnotation(model);
  EXPECT_EQ(annotation->tensors_size(), 0);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("STRING"));
}

TEST(MaterializeDilations, ZeroInsertedKernelKeepsTaps) {
  ConvTransposeSpec spec;
  spec.spatial_rank = 1;
  spec.in_channels = 1;
  spec.out_channels = 1;
  spec.kernel = {3};
  spec.dilations = {2};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  auto result = testing::RunPasses(model, "materialize-conv-transpose-dilations");
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string bytes = testing::WeightBytes(model, "W");
  ASSERT_EQ(bytes.size(), 5 * sizeof(float));
  std::vector<float> taps(5);
  std::memcpy(taps.data(), bytes.data(), bytes.size());
  EXPECT_THAT(taps, ::testing::ElementsAre(1, 0, 2, 0, 3));
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
}

}  // namespace
}  // namespace tflayout
