// inline-conv-transpose-functions on small hand-built models with model-local functions (what
// torch.onnx.export(..., export_modules_as_functions=...) writes), and conv-transpose-to-tf's
// counting of ConvTransposes left inside function bodies. python/tests/test_local_functions.py
// checks the same shapes of model, and a real torch export, against ONNX Runtime.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/unknown_field_set.h"
#include "lib/ir/verify.h"
#include "onnx/checker.h"
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "tflayout/graph_view.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

constexpr char kDomain[] = "local";
constexpr char kPass[] = "inline-conv-transpose-functions";

onnx::NodeProto Node(const std::string& op, std::vector<std::string> inputs,
                     std::vector<std::string> outputs, const std::string& name = "",
                     const std::string& domain = "") {
  onnx::NodeProto node;
  node.set_op_type(op);
  node.set_domain(domain);
  node.set_name(name);
  for (const auto& in : inputs) node.add_input(in);
  for (const auto& out : outputs) node.add_output(out);
  return node;
}

onnx::AttributeProto Ints(const std::string& name, std::vector<int64_t> values) {
  onnx::AttributeProto attr;
  attr.set_name(name);
  attr.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr.add_ints(v);
  return attr;
}

onnx::AttributeProto Ref(const std::string& name, const std::string& ref) {
  onnx::AttributeProto attr;
  attr.set_name(name);
  attr.set_type(onnx::AttributeProto::INTS);
  attr.set_ref_attr_name(ref);
  return attr;
}

onnx::NodeProto With(onnx::NodeProto node, std::vector<onnx::AttributeProto> attrs) {
  for (auto& a : attrs) *node.add_attribute() = std::move(a);
  return node;
}

onnx::FunctionProto Function(const std::string& name, std::vector<std::string> inputs,
                             std::vector<std::string> outputs, std::vector<onnx::NodeProto> nodes,
                             int64_t opset = 13) {
  onnx::FunctionProto f;
  f.set_domain(kDomain);
  f.set_name(name);
  for (const auto& in : inputs) f.add_input(in);
  for (const auto& out : outputs) f.add_output(out);
  for (auto& n : nodes) *f.add_node() = std::move(n);
  auto* op = f.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* local = f.add_opset_import();
  local->set_domain(kDomain);
  local->set_version(1);
  return f;
}

onnx::TensorProto Weight(const std::string& name, std::vector<int64_t> dims, float start) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    count *= d;
  }
  for (int64_t i = 0; i < count; ++i) t.add_float_data(start + 0.01f * static_cast<float>(i));
  return t;
}

void AddValue(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& list,
              const std::string& name, std::vector<int64_t> dims = {}) {
  onnx::ValueInfoProto* v = list.Add();
  v->set_name(name);
  auto* tensor = v->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  tensor->mutable_shape();  // ONNX 1.12's checker wants the field, even empty
  for (int64_t d : dims) tensor->mutable_shape()->add_dim()->set_dim_value(d);
}

// X (1, 4, 5, 5) -> nodes -> Y, with the given initializers and functions.
onnx::ModelProto Model(std::vector<onnx::NodeProto> nodes, std::vector<onnx::TensorProto> weights,
                       std::vector<onnx::FunctionProto> functions) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* local = model.add_opset_import();
  local->set_domain(kDomain);
  local->set_version(1);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("g");
  AddValue(*g.mutable_input(), "X", {1, 4, 5, 5});
  AddValue(*g.mutable_output(), "Y");
  for (auto& n : nodes) *g.add_node() = std::move(n);
  for (auto& w : weights) *g.add_initializer() = std::move(w);
  for (auto& f : functions) *model.add_functions() = std::move(f);
  return model;
}

// F(x, w) -> y: y = Relu(ConvTranspose(x, w, strides = 2)).
onnx::FunctionProto UpFunction() {
  return Function("Up", {"x", "w"}, {"y"},
                  {With(Node("ConvTranspose", {"x", "w"}, {"t"}, "ct"), {Ints("strides", {2, 2})}),
                   Node("Relu", {"t"}, {"y"}, "relu")});
}

// Two calls of Up with different weights.
onnx::ModelProto TwoCallsModel() {
  return Model({Node("Up", {"X", "W1"}, {"A"}, "/a/Up", kDomain),
                Node("Up", {"A", "W2"}, {"Y"}, "/b/Up", kDomain)},
               {Weight("W1", {4, 4, 3, 3}, 0.5f), Weight("W2", {4, 2, 3, 3}, -0.3f)},
               {UpFunction()});
}

int Count(const onnx::GraphProto& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.node()) n += node.op_type() == op;
  return n;
}

const onnx::AttributeProto* Attr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

void ExpectValid(const onnx::ModelProto& model) {
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  onnx::ModelProto copy = model;
  EXPECT_NO_THROW(onnx::checker::check_model(copy));
}

std::vector<std::string> RemarkMessages(const onnx::ModelProto& model) {
  std::vector<std::string> out;
  auto annotation = ReadAnnotation(model);
  if (!annotation.ok()) return out;
  for (const auto& r : annotation->remarks()) out.push_back(r.message());
  return out;
}

TEST(InlineFunctions, TwoCallsWithDifferentWeightsBecomeTwoConvTransposes) {
  onnx::ModelProto model = TwoCallsModel();
  ExpectValid(model);
  auto result = testing::RunPasses(model, kPass);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->passes[0].changed);
  EXPECT_EQ(result->passes[0].statistics.at("calls-inlined"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("functions-removed"), 1);
  EXPECT_EQ(model.functions_size(), 0);
  const onnx::GraphProto& g = model.graph();
  ASSERT_EQ(g.node_size(), 4);
  EXPECT_EQ(g.node(0).op_type(), "ConvTranspose");
  EXPECT_EQ(g.node(0).input(0), "X");
  EXPECT_EQ(g.node(0).input(1), "W1");
  EXPECT_EQ(g.node(0).name(), "a/Up/ct");  // prefixed by the call, a valid TF scope name
  EXPECT_EQ(g.node(1).op_type(), "Relu");
  EXPECT_EQ(g.node(1).output(0), "A");
  EXPECT_EQ(g.node(2).input(0), "A");
  EXPECT_EQ(g.node(2).input(1), "W2");
  EXPECT_EQ(g.node(3).output(0), "Y");
  EXPECT_NE(g.node(0).output(0), g.node(2).output(0));  // each call's "t" has its own name
  for (const auto& node : g.node()) {
    EXPECT_EQ(ScopeSafeName(node.name()), node.name());
    for (const auto& out : node.output()) EXPECT_EQ(ScopeSafeName(out), out);
  }
  ASSERT_NE(Attr(g.node(2), "strides"), nullptr);
  ExpectValid(model);

  // The default pipeline then rewrites both weights.
  onnx::ModelProto again = TwoCallsModel();
  auto full = testing::RunPasses(again, kDefaultPipeline);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_EQ(full->passes.back().name, "conv-transpose-to-tf");
  EXPECT_EQ(full->passes.back().statistics.at("conv-transpose-weights"), 2);
  EXPECT_EQ(full->passes.back().statistics.at("weights-rewritten"), 2);
  ExpectValid(again);
  const std::string once = again.SerializeAsString();
  ASSERT_TRUE(testing::RunPasses(again, kDefaultPipeline).ok());
  EXPECT_EQ(again.SerializeAsString(), once);  // a second run changes nothing
}

TEST(InlineFunctions, WithoutThePassConvTransposeToTfCountsBodyWeightsPerCall) {
  onnx::ModelProto model = TwoCallsModel();
  auto result = testing::RunPasses(model, "conv-transpose-to-tf");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("conv-transpose-weights"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("weights-left-alone"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("weights-rewritten"), 0);
  EXPECT_THAT(RemarkMessages(model),
              ::testing::Contains(HasSubstr(
                  "ConvTranspose 'ct' is inside local function 'local.Up': run "
                  "inline-conv-transpose-functions")));
}

TEST(InlineFunctions, AttributeReferencesTakeTheCallsValueThenTheDefaultElseVanish) {
  onnx::FunctionProto f = Function(
      "Up", {"x", "w"}, {"y"},
      {With(Node("ConvTranspose", {"x", "w"}, {"y"}, "ct"),
            {Ref("strides", "s"), Ref("output_padding", "op"), Ref("pads", "p")})});
  f.add_attribute("s");
  f.add_attribute("p");
  // output_padding's default, as IR 9 writes it (FunctionProto.attribute_proto, field 11,
  // unknown to the ONNX 1.12 classes we build against).
  f.GetReflection()->MutableUnknownFields(&f)->AddLengthDelimited(
      11, Ints("op", {1, 1}).SerializeAsString());
  onnx::NodeProto call = Node("Up", {"X", "W"}, {"Y"}, "call", kDomain);
  onnx::AttributeProto s = Ints("s", {2, 2});
  *call.add_attribute() = s;
  onnx::ModelProto model = Model({call}, {Weight("W", {4, 3, 3, 3}, 0.1f)}, {f});
  auto result = testing::RunPasses(model, kPass);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(model.graph().node_size(), 1);
  const onnx::NodeProto& ct = model.graph().node(0);
  ASSERT_NE(Attr(ct, "strides"), nullptr);
  EXPECT_THAT(Attr(ct, "strides")->ints(), ::testing::ElementsAre(2, 2));
  EXPECT_FALSE(Attr(ct, "strides")->has_ref_attr_name());
  ASSERT_NE(Attr(ct, "output_padding"), nullptr);
  EXPECT_THAT(Attr(ct, "output_padding")->ints(), ::testing::ElementsAre(1, 1));
  EXPECT_EQ(Attr(ct, "pads"), nullptr);  // neither given nor defaulted: absent
  ExpectValid(model);
}

TEST(InlineFunctions, NestedFunctionsAreInlinedRoundAfterRound) {
  onnx::FunctionProto outer = Function(
      "Outer", {"x", "w"}, {"y"},
      {Node("Up", {"x", "w"}, {"u"}, "inner", kDomain), Node("Sigmoid", {"u"}, {"y"}, "sig")});
  onnx::ModelProto model = Model({Node("Outer", {"X", "W"}, {"Y"}, "/m/Outer", kDomain)},
                                 {Weight("W", {4, 2, 3, 3}, 0.2f)}, {outer, UpFunction()});
  auto result = testing::RunPasses(model, kPass);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("calls-inlined"), 2);
  EXPECT_EQ(result->passes[0].statistics.at("functions-removed"), 2);
  EXPECT_EQ(model.functions_size(), 0);
  const onnx::GraphProto& g = model.graph();
  ASSERT_EQ(g.node_size(), 3);
  EXPECT_EQ(g.node(0).op_type(), "ConvTranspose");
  EXPECT_EQ(g.node(0).input(1), "W");
  EXPECT_EQ(g.node(0).name(), "m/Outer/inner/ct");
  EXPECT_EQ(g.node(2).op_type(), "Sigmoid");
  EXPECT_EQ(g.node(2).output(0), "Y");
  ExpectValid(model);
}

TEST(InlineFunctions, OmittedOptionalInputsStayOmittedAndReturnedInputsGetAnIdentity) {
  // F(x, w, b) -> (y, x_out): y = ConvTranspose(x, w, b); x_out is the input x itself.
  onnx::FunctionProto f =
      Function("F", {"x", "w", "b"}, {"y", "x"}, {Node("ConvTranspose", {"x", "w", "b"}, {"y"}, "ct")});
  onnx::ModelProto model =
      Model({Node("F", {"X", "W"}, {"Y", "Xcopy"}, "call", kDomain)},
            {Weight("W", {4, 3, 3, 3}, 0.1f)}, {f});
  AddValue(*model.mutable_graph()->mutable_output(), "Xcopy");
  ExpectValid(model);
  auto result = testing::RunPasses(model, kPass);
  ASSERT_TRUE(result.ok()) << result.status();
  const onnx::GraphProto& g = model.graph();
  ASSERT_EQ(g.node_size(), 2);
  EXPECT_THAT(g.node(0).input(), ::testing::ElementsAre("X", "W", ""));
  EXPECT_EQ(g.node(1).op_type(), "Identity");
  EXPECT_EQ(g.node(1).input(0), "X");
  EXPECT_EQ(g.node(1).output(0), "Xcopy");
  ExpectValid(model);

  // The same call with the bias given binds it.
  onnx::ModelProto with_bias =
      Model({Node("F", {"X", "W", "B"}, {"Y"}, "call", kDomain)},
            {Weight("W", {4, 3, 3, 3}, 0.1f), Weight("B", {3}, 1.0f)}, {f});
  ASSERT_TRUE(testing::RunPasses(with_bias, kPass).ok());
  ASSERT_EQ(with_bias.graph().node_size(), 1);
  EXPECT_THAT(with_bias.graph().node(0).input(), ::testing::ElementsAre("X", "W", "B"));
  ExpectValid(with_bias);
}

TEST(InlineFunctions, FunctionsWithoutConvTransposeAreLeftAlone) {
  onnx::FunctionProto act = Function("Act", {"x"}, {"y"}, {Node("Relu", {"x"}, {"y"}, "r")});
  onnx::ModelProto model =
      Model({With(Node("ConvTranspose", {"X", "W"}, {"T"}, "ct"), {}),
             Node("Act", {"T"}, {"Y"}, "act", kDomain)},
            {Weight("W", {4, 3, 3, 3}, 0.1f)}, {act});
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, kPass);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_EQ(model.SerializeAsString(), before);

  auto full = testing::RunPasses(model, kDefaultPipeline);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->passes.back().statistics.at("conv-transpose-weights"), 1);
  EXPECT_EQ(full->passes.back().statistics.at("weights-rewritten"), 1);
  ASSERT_EQ(model.functions_size(), 1);
  EXPECT_EQ(model.functions(0).name(), "Act");
}

TEST(InlineFunctions, OpsetConflictLeavesTheCallWithARemarkAndTheCountStaysHonest) {
  onnx::FunctionProto f = UpFunction();
  f.mutable_opset_import(0)->set_version(11);  // the model imports ai.onnx 13
  onnx::ModelProto model = Model({Node("Up", {"X", "W"}, {"Y"}, "call", kDomain)},
                                 {Weight("W", {4, 3, 3, 3}, 0.1f)}, {f});
  auto result = testing::RunPasses(model, kDefaultPipeline);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_EQ(result->passes[0].statistics.at("calls-left"), 1);
  ASSERT_EQ(model.functions_size(), 1);
  ASSERT_EQ(model.graph().node(0).op_type(), "Up");
  EXPECT_THAT(RemarkMessages(model),
              ::testing::Contains(AllOf(HasSubstr("local function 'local.Up'"),
                                        HasSubstr("domain 'ai.onnx' at version 11"),
                                        HasSubstr("the model at version 13"))));
  EXPECT_EQ(result->passes.back().statistics.at("conv-transpose-weights"), 1);
  EXPECT_EQ(result->passes.back().statistics.at("weights-left-alone"), 1);
}

TEST(InlineFunctions, CallsInsideSubgraphsAreInlinedThere) {
  onnx::GraphProto then_branch, else_branch;
  for (auto [branch, name] : {std::pair<onnx::GraphProto*, std::string>{&then_branch, "then"},
                              std::pair<onnx::GraphProto*, std::string>{&else_branch, "else"}}) {
    branch->set_name(name);
    *branch->add_node() = Node("Up", {"X", "W"}, {name + "_y"}, "call", kDomain);
    AddValue(*branch->mutable_output(), name + "_y");
  }
  onnx::NodeProto if_node = Node("If", {"C"}, {"Y"}, "if");
  onnx::AttributeProto then_attr, else_attr;
  then_attr.set_name("then_branch");
  then_attr.set_type(onnx::AttributeProto::GRAPH);
  *then_attr.mutable_g() = then_branch;
  else_attr.set_name("else_branch");
  else_attr.set_type(onnx::AttributeProto::GRAPH);
  *else_attr.mutable_g() = else_branch;
  if_node = With(if_node, {then_attr, else_attr});
  onnx::ModelProto model = Model({if_node}, {Weight("W", {4, 3, 3, 3}, 0.1f)}, {UpFunction()});
  onnx::ValueInfoProto* c = model.mutable_graph()->add_input();
  c->set_name("C");
  c->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
  c->mutable_type()->mutable_tensor_type()->mutable_shape();
  ExpectValid(model);
  auto result = testing::RunPasses(model, kDefaultPipeline);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->passes[0].statistics.at("calls-inlined"), 2);
  EXPECT_EQ(model.functions_size(), 0);
  EXPECT_EQ(result->passes.back().statistics.at("weights-rewritten"), 1);  // one W, two readers
  const onnx::NodeProto* if_after = nullptr;
  for (const auto& n : model.graph().node()) {
    if (n.op_type() == "If") if_after = &n;
  }
  ASSERT_NE(if_after, nullptr);
  EXPECT_EQ(Count(Attr(*if_after, "then_branch")->g(), "ConvTranspose"), 1);
  EXPECT_EQ(Count(Attr(*if_after, "else_branch")->g(), "ConvTranspose"), 1);
  ExpectValid(model);
}

}  // namespace
}  // namespace tflayout

namespace tflayout {
namespace {

TEST(InlineFunctions, ExponentialNestingFailsWithAClearErrorInsteadOfExhaustingMemory) {
  // F0 = ConvTranspose; F_k calls F_{k-1} twice: 2^22 ConvTransposes once inlined.
  std::vector<onnx::FunctionProto> functions = {Function(
      "F0", {"x", "w"}, {"y"}, {Node("ConvTranspose", {"x", "w"}, {"y"}, "ct")})};
  constexpr int kLevels = 22;
  for (int k = 1; k <= kLevels; ++k) {
    const std::string callee = absl::StrCat("F", k - 1);
    functions.push_back(Function(absl::StrCat("F", k), {"x", "w"}, {"y"},
                                 {Node(callee, {"x", "w"}, {"a"}, "first", kDomain),
                                  Node(callee, {"a", "w"}, {"y"}, "second", kDomain)}));
  }
  onnx::ModelProto model =
      Model({Node(absl::StrCat("F", kLevels), {"X", "W"}, {"Y"}, "call", kDomain)},
            {Weight("W", {4, 4, 1, 1}, 0.1f)}, functions);
  auto result = testing::RunPasses(model, kPass);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("would create more than"));
}

}  // namespace
}  // namespace tflayout
