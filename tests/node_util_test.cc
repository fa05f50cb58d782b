// Node utilities: domain tests, typed attribute reads and writes, subgraph walks and the
// weights an operator's nodes read, on models written in ONNX's text format.
#include "tflayout/node_util.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/defs/parser.h"

namespace tflayout {
namespace {

using ::testing::ElementsAre;

onnx::ModelProto Parse(const char* text) {
  onnx::ModelProto model;
  const auto status = onnx::OnnxParser::Parse(model, text);
  EXPECT_TRUE(status.IsOK()) << status.ErrorMessage();
  return model;
}

// Two Convs share W; a third reads V inside an If branch; a custom-domain "Conv" and a Gemm
// are not Conv readers.
constexpr char kModel[] = R"(
<ir_version: 8, opset_import: ["" : 13, "custom" : 1]>
g (float[1,2,5,5] X, bool c) => (float[1,3,3,3] Y, float[1,3,3,3] Z, float[1,3,3,3] U) <float[3,2,3,3] W, float[3,2,3,3] V> {
  Y = Conv <pads = [0, 0, 0, 0], group = 1> (X, W)
  Z = ai.onnx.Conv (X, W)
  T = custom.Conv (X, V)
  U = If (c) <then_branch = t () => (float[1,3,3,3] A) { A = Conv <strides = [1, 1]> (X, V) },
              else_branch = e () => (float[1,3,3,3] B) { B = Conv (X, W) }>
}
)";

TEST(NodeUtil, DomainTests) {
  EXPECT_TRUE(IsOnnxDomain(""));
  EXPECT_TRUE(IsOnnxDomain("ai.onnx"));
  EXPECT_FALSE(IsOnnxDomain("com.microsoft"));
  EXPECT_EQ(CanonicalDomain("ai.onnx"), "");
  EXPECT_EQ(CanonicalDomain("tflayout"), "tflayout");
  onnx::ModelProto model = Parse(kModel);
  EXPECT_TRUE(IsOnnxOp(model.graph().node(0), "Conv"));
  EXPECT_TRUE(IsOnnxOp(model.graph().node(1), "Conv"));   // spelled ai.onnx
  EXPECT_FALSE(IsOnnxOp(model.graph().node(2), "Conv"));  // custom domain
  EXPECT_FALSE(IsOnnxOp(model.graph().node(0), "ConvTranspose"));
}

TEST(NodeUtil, TypedAttributeReadsAndWrites) {
  onnx::ModelProto model = Parse(kModel);
  onnx::NodeProto& conv = *model.mutable_graph()->mutable_node(0);
  EXPECT_EQ(IntAttribute(conv, "group", 7), 1);
  EXPECT_EQ(IntAttribute(conv, "absent", 7), 7);
  EXPECT_THAT(IntsAttribute(conv, "pads"), ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(IntsAttribute(conv, "strides", {1, 1}), ElementsAre(1, 1));
  EXPECT_EQ(StringAttribute(conv, "auto_pad", "NOTSET"), "NOTSET");

  SetIntsAttribute(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});  // replaced in place
  EXPECT_EQ(conv.attribute(0).name(), "pads");
  EXPECT_THAT(IntsAttribute(conv, "pads"), ElementsAre(1, 1, 1, 1));
  SetIntAttribute(conv, "group", 2);
  EXPECT_EQ(IntAttribute(conv, "group", 1), 2);
  EXPECT_EQ(conv.attribute_size(), 2);
  SetIntAttribute(conv, "new", 5);  // appended
  EXPECT_EQ(conv.attribute(2).name(), "new");
  EXPECT_EQ(conv.attribute(2).type(), onnx::AttributeProto::INT);

  EXPECT_TRUE(RemoveAttribute(conv, "pads"));
  EXPECT_FALSE(RemoveAttribute(conv, "pads"));
  EXPECT_EQ(FindAttribute(conv, "pads"), nullptr);
  EXPECT_NE(FindMutableAttribute(conv, "group"), nullptr);
}

TEST(NodeUtil, WalksSubgraphsDeep) {
  onnx::ModelProto model = Parse(kModel);
  const onnx::NodeProto& if_node = model.graph().node(3);
  int branches = 0;
  ForEachSubgraph(if_node, [&](const onnx::GraphProto&) { ++branches; });
  EXPECT_EQ(branches, 2);

  std::vector<std::string> outputs;
  const onnx::GraphProto& graph = model.graph();
  ForEachNodeDeep(graph.node(), [&](const onnx::NodeProto& node) {
    outputs.push_back(node.output(0));
  });
  EXPECT_THAT(outputs, ElementsAre("Y", "Z", "T", "U", "A", "B"));

  int renamed = 0;
  ForEachNodeDeep(*model.mutable_graph()->mutable_node(), [&](onnx::NodeProto& node) {
    if (node.op_type() == "Conv") node.set_name("c" + std::to_string(renamed++));
  });
  EXPECT_EQ(renamed, 5);
  EXPECT_EQ(model.graph().node(3).attribute(1).g().node(0).name(), "c4");
}

TEST(NodeUtil, OperatorWeightsInFirstUseOrderAcrossGraphs) {
  onnx::ModelProto model = Parse(kModel);
  GraphView view(model);
  const std::vector<OperatorWeight> weights = OperatorWeights(view, "Conv", 1);
  ASSERT_EQ(weights.size(), 2u);
  EXPECT_EQ(weights[0].name, "W");
  EXPECT_EQ(weights[0].readers.size(), 3u);  // Y, Z, and the else branch
  EXPECT_EQ(weights[0].readers[2].graph->depth, 1);
  EXPECT_EQ(weights[1].name, "V");  // the custom-domain reader is not counted
  ASSERT_EQ(weights[1].readers.size(), 1u);
  EXPECT_EQ(weights[1].readers[0].node->output(0), "A");
  EXPECT_TRUE(OperatorWeights(view, "Gemm", 1).empty());
}

}  // namespace
}  // namespace tflayout
