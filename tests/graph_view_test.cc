// Graph view: definitions and uses across subgraphs and graph outputs, unique names.
#include "tflayout/graph_view.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

TEST(GraphView, FindsUsesInSubgraphsAndGraphOutputs) {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::GraphProto* graph = model.mutable_graph();
  *graph->add_output() = graph->input(0);
  graph->mutable_output(1)->set_name("W");  // W is also a graph output
  onnx::NodeProto* loop_like = graph->add_node();
  loop_like->set_name("wrapper");
  loop_like->set_op_type("If");
  loop_like->add_input("cond");
  auto* attr = loop_like->add_attribute();
  attr->set_name("then_branch");
  attr->set_type(onnx::AttributeProto::GRAPH);
  onnx::NodeProto* inner = attr->mutable_g()->add_node();
  inner->set_name("inner");
  inner->set_op_type("Identity");
  inner->add_input("W");
  inner->add_output("W_inner");

  GraphView view(model);
  ASSERT_EQ(view.graphs().size(), 2u);
  EXPECT_EQ(view.graphs()[1]->path, "wrapper/then_branch");
  EXPECT_EQ(view.graphs()[1]->depth, 1);
  const auto& uses = view.Uses("W");
  ASSERT_EQ(uses.size(), 3u);  // graph output, the ConvTranspose, the nested Identity
  int graph_outputs = 0, nested = 0;
  for (const auto& use : uses) {
    graph_outputs += use.node == nullptr;
    nested += use.graph->depth == 1;
  }
  EXPECT_EQ(graph_outputs, 1);
  EXPECT_EQ(nested, 1);
  auto constant = FindConstant(view, "W");
  ASSERT_TRUE(constant.ok());
  EXPECT_EQ(constant->constant_node, nullptr);
  EXPECT_FALSE(FindConstant(view, "Y").ok());
  EXPECT_FALSE(FindConstant(view, "X").ok());
}

TEST(GraphView, UniqueNamesAvoidEverythingInTheModel) {
  testing::ConvTransposeSpec spec;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  GraphView view(model);
  EXPECT_EQ(view.UniqueName("fresh"), "fresh");
  EXPECT_EQ(view.UniqueName("fresh"), "fresh_1");
  EXPECT_EQ(view.UniqueName("W"), "W_1");
  EXPECT_EQ(view.UniqueName("deconv"), "deconv_1");  // node names count too
}

TEST(GraphView, DepthLimit) {
  onnx::ModelProto model;
  onnx::GraphProto* g = model.mutable_graph();
  for (int i = 0; i < 5; ++i) {
    auto* attr = g->add_node()->add_attribute();
    attr->set_name("body");
    g = attr->mutable_g();
  }
  EXPECT_TRUE(CheckGraphDepth(model, 5).ok());
  EXPECT_FALSE(CheckGraphDepth(model, 4).ok());
}

}  // namespace
}  // namespace tflayout
