// Annotation reconciliation (lib/ir/annotation_reconcile.h): records that other tools made
// stale are dropped with a remark before the first pass, so conv-transpose-from-tf and re-runs
// work on models that onnxsim and friends rewrote. python/tests/test_onnx2tf_annotation.py runs
// the same scenario through the real onnxsim.
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/annotation_reconcile.h"
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

std::string AnnotationJson(const onnx::ModelProto& model) {
  for (const auto& kv : model.metadata_props()) {
    if (kv.key() == kAnnotationKey) return kv.value();
  }
  return "";
}

void SetAnnotationJson(onnx::ModelProto& model, const std::string& json) {
  for (auto& kv : *model.mutable_metadata_props()) {
    if (kv.key() == kAnnotationKey) {
      kv.set_value(json);
      return;
    }
  }
  auto* kv = model.add_metadata_props();
  kv->set_key(kAnnotationKey);
  kv->set_value(json);
}

// Two ConvTranspose nodes reading one weight W, through the default pipeline.
onnx::ModelProto TwoReadersRewritten() {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::NodeProto second = model.graph().node(0);
  second.set_name(model.graph().node(0).name() + "_2");
  second.set_output(0, "Y2");
  *model.mutable_graph()->add_node() = second;
  *model.mutable_graph()->add_output() = model.graph().output(0);
  model.mutable_graph()->mutable_output(1)->set_name("Y2");
  auto result = testing::RunPasses(model, kDefaultPipeline);
  EXPECT_TRUE(result.ok()) << result.status();
  return model;
}

// What onnxsim does to the compensate form: W__tf + Transpose folded back into one
// ONNX-layout initializer W, metadata_props (the old annotation) kept.
onnx::ModelProto FoldedByAnotherTool(const onnx::ModelProto& rewritten) {
  onnx::ModelProto folded = rewritten;
  const std::string stale = AnnotationJson(rewritten);
  EXPECT_TRUE(testing::RunPasses(folded, "conv-transpose-from-tf").ok());
  SetAnnotationJson(folded, stale);
  return folded;
}

TEST(AnnotationReconcile, ConsistentAnnotationIsKept) {
  onnx::ModelProto model = TwoReadersRewritten();
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 2);
  Annotation copy = *annotation;
  EXPECT_EQ(ReconcileAnnotation(model, copy), 0);
  EXPECT_EQ(copy.SerializeAsString(), annotation->SerializeAsString());
}

TEST(AnnotationReconcile, FoldedModelDropsRecordsAndFromTfIsANoOp) {
  onnx::ModelProto original;
  {
    testing::ConvTransposeSpec spec;
    original = testing::MakeConvTransposeModel(spec);
  }
  const std::string weight = testing::WeightBytes(original, "W");
  onnx::ModelProto folded = FoldedByAnotherTool(TwoReadersRewritten());
  ASSERT_EQ(ReadAnnotation(folded)->tensors_size(), 2);

  // Before reconciliation this failed with "'W__tf' is not defined".
  auto result = testing::RunPasses(folded, "conv-transpose-from-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_EQ(testing::WeightBytes(folded, "W"), weight);
  auto annotation = ReadAnnotation(folded);
  ASSERT_TRUE(annotation.ok());
  EXPECT_EQ(annotation->tensors_size(), 0);
  ASSERT_EQ(annotation->remarks_size(), 2);  // one per dropped (tensor, node) record
  EXPECT_EQ(annotation->remarks(0).pass(), kReconcileRemarkPass);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("'W__tf' is no longer a constant"));
}

TEST(AnnotationReconcile, RerunOnFoldedModelLeavesOneRecordPerNodeAndIsStable) {
  onnx::ModelProto model = FoldedByAnotherTool(TwoReadersRewritten());
  ASSERT_TRUE(testing::RunPasses(model, kDefaultPipeline).ok());
  auto annotation = ReadAnnotation(model);
  ASSERT_TRUE(annotation.ok());
  ASSERT_EQ(annotation->tensors_size(), 2);  // was 4: two stale + two new
  EXPECT_EQ(annotation->tensors(0).tensor(), "W__tf");
  const std::string once = model.SerializeAsString();
  ASSERT_TRUE(testing::RunPasses(model, kDefaultPipeline).ok());
  EXPECT_EQ(model.SerializeAsString(), once);  // remarks are not repeated
  // and the inverse restores the weight bit for bit
  testing::ConvTransposeSpec spec;
  const std::string weight = testing::WeightBytes(testing::MakeConvTransposeModel(spec), "W");
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-from-tf").ok());
  EXPECT_EQ(testing::WeightBytes(model, "W"), weight);
}

TEST(AnnotationReconcile, RenamedNodeDropsOnlyItsRecord) {
  onnx::ModelProto model = TwoReadersRewritten();
  onnx::NodeProto* renamed = nullptr;
  for (auto& node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() == "ConvTranspose" && absl::EndsWith(node.name(), "_2")) renamed = &node;
  }
  ASSERT_NE(renamed, nullptr);
  const std::string old_name = renamed->name();
  renamed->set_name("renamed_by_optimizer");
  Annotation annotation = *ReadAnnotation(model);
  EXPECT_EQ(ReconcileAnnotation(model, annotation), 1);
  ASSERT_EQ(annotation.tensors_size(), 1);
  EXPECT_NE(annotation.tensors(0).node(), old_name);
  ASSERT_EQ(annotation.remarks_size(), 1);
  EXPECT_EQ(annotation.remarks(0).node(), old_name);
  EXPECT_THAT(annotation.remarks(0).message(), HasSubstr("is no longer in the model"));
}

TEST(AnnotationReconcile, TensorWithOtherDimsIsDropped) {
  onnx::ModelProto model = TwoReadersRewritten();
  for (auto& init : *model.mutable_graph()->mutable_initializer()) {
    if (init.name() != "W__tf") continue;
    // Same elements, another shape (as a tool that flattens and reshapes would leave it).
    int64_t n = 1;
    for (int64_t d : init.dims()) n *= d;
    init.clear_dims();
    init.add_dims(n);
  }
  Annotation annotation = *ReadAnnotation(model);
  EXPECT_EQ(ReconcileAnnotation(model, annotation), 2);
  EXPECT_EQ(annotation.tensors_size(), 0);
  EXPECT_THAT(annotation.remarks(0).message(), HasSubstr("not the recorded TF dims"));
}

TEST(AnnotationReconcile, NodeThatNoLongerReadsTheTfTensorIsDropped) {
  // A tool folded the Transpose into a fresh ONNX-layout constant but kept W__tf around.
  onnx::ModelProto model = TwoReadersRewritten();
  auto* nodes = model.mutable_graph()->mutable_node();
  for (int i = 0; i < nodes->size(); ++i) {
    if (nodes->Get(i).op_type() == "Transpose") {
      nodes->Mutable(i)->set_op_type("Identity");  // no longer the inverse permutation
      nodes->Mutable(i)->clear_attribute();
    }
  }
  Annotation annotation = *ReadAnnotation(model);
  EXPECT_EQ(ReconcileAnnotation(model, annotation), 2);
  EXPECT_THAT(annotation.remarks(0).message(), HasSubstr("no longer reads tensor 'W__tf'"));
}

TEST(AnnotationReconcile, CustomOpFormIsKept) {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  ASSERT_TRUE(testing::RunPasses(model, "conv-transpose-to-tf{form=custom-op}").ok());
  Annotation annotation = *ReadAnnotation(model);
  ASSERT_EQ(annotation.tensors_size(), 1);
  EXPECT_EQ(ReconcileAnnotation(model, annotation), 0);
}

}  // namespace
}  // namespace tflayout
