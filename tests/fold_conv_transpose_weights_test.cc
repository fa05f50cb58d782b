// fold-conv-transpose-weights on small generated models: weight_norm's and spectral_norm's
// ops with their opset differences (axes as attribute or input), what is removed and kept,
// IR 3 input entries, and what is left alone. Values are checked against loops written here;
// python/tests/test_real_exporters.py checks folded torch exports against ONNX Runtime.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/verify.h"
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kC = 4, kM = 6, kK = 3;  // W: (C, M, k, k)

onnx::TensorProto FloatTensor(const std::string& name, std::vector<int64_t> dims,
                              const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return t;
}

onnx::TensorProto IntTensor(const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t.add_int64_data(v);
  return t;
}

onnx::NodeProto Node(const std::string& op, std::vector<std::string> in, const std::string& out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name("/" + out);  // torch-style names
  for (auto& i : in) n.add_input(i);
  n.add_output(out);
  return n;
}

std::vector<float> V() {  // weight_v: distinct, signed
  std::vector<float> v(kC * kM * kK * kK);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f) + 0.1f;
  return v;
}

// X -> ConvTranspose(X, W) with W computed by `nodes` (the last one outputs "W").
onnx::ModelProto Model(int opset, std::vector<onnx::NodeProto> nodes,
                       std::vector<onnx::TensorProto> initializers, int ir = 8) {
  testing::ConvTransposeSpec spec;
  spec.opset = opset;
  spec.ir_version = ir;
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.clear_initializer();
  for (auto& t : initializers) *graph.add_initializer() = t;
  for (size_t i = 0; i < nodes.size(); ++i) InsertNode(graph, static_cast<int>(i), nodes[i]);
  return model;
}

std::vector<float> Floats(const onnx::TensorProto& t) {
  std::string bytes = ReadElementBytes(t).value();
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

const onnx::TensorProto* Initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

void ExpectClose(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(got[i] - want[i]));
  }
  EXPECT_LE(max_err, 1e-6 * max_abs);
}

// weight_norm(dim=0): W = g * v / ||v|| over every axis but 0.
std::vector<double> WeightNorm(const std::vector<float>& v, const std::vector<float>& g) {
  const int64_t per = kM * kK * kK;
  std::vector<double> w(v.size());
  for (int64_t c = 0; c < kC; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < per; ++i) sum += double{v[c * per + i]} * v[c * per + i];
    for (int64_t i = 0; i < per; ++i) w[c * per + i] = v[c * per + i] / std::sqrt(sum) * g[c];
  }
  return w;
}

TEST(FoldWeights, WeightNormAtOpsets9To18) {
  const std::vector<float> v = V(), g = {0.5f, -1.5f, 2.0f, 3.0f};
  for (int opset : {9, 13, 17, 18}) {
    SCOPED_TRACE(opset);
    onnx::NodeProto l2 = Node("ReduceL2", {"v"}, "norm");
    std::vector<onnx::TensorProto> inits = {FloatTensor("v", {kC, kM, kK, kK}, v),
                                            FloatTensor("g", {kC, 1, 1, 1}, g)};
    if (opset >= 18) {
      l2.add_input("axes");
      inits.push_back(IntTensor("axes", {1, 2, 3}));
    } else {
      SetIntsAttribute(l2, "axes", {1, 2, 3});
    }
    onnx::ModelProto model = Model(opset, {l2, Node("Div", {"v", "norm"}, "unit"),
                                           Node("Mul", {"unit", "g"}, "W")}, inits);
    // ONNX 1.12's checker does not know opset 18 (ReduceL2's axes became an input there).
    const bool checkable = opset < 18;
    if (checkable) ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    auto result = testing::RunPasses(model, "fold-conv-transpose-weights");
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->passes[0].statistics.at("weights-folded"), 1);
    if (checkable) EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    ASSERT_EQ(model.graph().node_size(), 1);  // only the ConvTranspose is left
    ASSERT_EQ(model.graph().initializer_size(), 1);  // v, g (and axes) went with their readers
    const onnx::TensorProto* w = Initializer(model, "W");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(std::vector<int64_t>(w->dims().begin(), w->dims().end()),
              (std::vector<int64_t>{kC, kM, kK, kK}));
    ExpectClose(Floats(*w), WeightNorm(v, g));
    // The default pipeline then stores it in TF layout.
    auto rest = testing::RunPasses(model, kDefaultPipeline);
    ASSERT_TRUE(rest.ok()) << rest.status();
    ASSERT_EQ(rest->passes.back().name, "conv-transpose-to-tf");
    EXPECT_EQ(rest->passes.back().statistics.at("weights-rewritten"), 1);
  }
}

TEST(FoldWeights, AxesAsAttributeBeforeOpset13AndAsInputFrom13) {
  // W = v / Unsqueeze(ReduceSum(v, axes=[1,2,3], keepdims=0), axes=[1,2,3])
  const std::vector<float> v = V();
  for (int opset : {11, 13}) {
    SCOPED_TRACE(opset);
    onnx::NodeProto sum = Node("ReduceSum", {"v"}, "sum");
    onnx::NodeProto unsqueeze = Node("Unsqueeze", {"sum"}, "sum4");
    SetIntAttribute(sum, "keepdims", 0);
    std::vector<onnx::TensorProto> inits = {FloatTensor("v", {kC, kM, kK, kK}, v)};
    if (opset >= 13) {
      sum.add_input("axes");
      unsqueeze.add_input("axes");
      inits.push_back(IntTensor("axes", {1, 2, 3}));
    } else {
      SetIntsAttribute(sum, "axes", {1, 2, 3});
      SetIntsAttribute(unsqueeze, "axes", {1, 2, 3});
    }
    onnx::ModelProto model = Model(opset, {sum, unsqueeze, Node("Div", {"v", "sum4"}, "W")}, inits);
    ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
    ASSERT_TRUE(testing::RunPasses(model, "fold-conv-transpose-weights").ok());
    const onnx::TensorProto* w = Initializer(model, "W");
    ASSERT_NE(w, nullptr);
    const int64_t per = kM * kK * kK;
    std::vector<double> want(v.size());
    for (int64_t c = 0; c < kC; ++c) {
      float s = 0;  // float, as the runtime sums
      for (int64_t i = 0; i < per; ++i) s += v[c * per + i];
      for (int64_t i = 0; i < per; ++i) want[c * per + i] = v[c * per + i] / s;
    }
    ExpectClose(Floats(*w), want);
  }
}

TEST(FoldWeights, SpectralNormShapeOpsAndMatMul) {
  // torch's spectral_norm in eval: sigma = u . (reshape(transpose(W), [M, -1]) @ v); W / sigma
  // (dim=1 for ConvTranspose: the weight is transposed so that M comes first).
  const std::vector<float> w0 = V();
  std::vector<float> u(kM), vv(kC * kK * kK);
  for (int64_t i = 0; i < kM; ++i) u[i] = 0.3f + 0.1f * i;
  for (size_t i = 0; i < vv.size(); ++i) vv[i] = std::cos(0.5f * i);
  onnx::NodeProto transpose = Node("Transpose", {"w"}, "wt");
  SetIntsAttribute(transpose, "perm", {1, 0, 2, 3});
  onnx::NodeProto shape = Node("Shape", {"wt"}, "shape");
  onnx::NodeProto gather = Node("Gather", {"shape", "zero"}, "m");
  onnx::NodeProto unsq = Node("Unsqueeze", {"m", "axis0"}, "m1");
  onnx::NodeProto concat = Node("Concat", {"m1", "minus1"}, "target");
  SetIntAttribute(concat, "axis", 0);
  onnx::TensorProto zero;
  zero.set_name("zero");
  zero.set_data_type(onnx::TensorProto::INT64);
  zero.add_int64_data(0);  // scalar index: Gather gives a scalar
  onnx::ModelProto model = Model(
      13,
      {transpose, shape, gather, unsq, concat, Node("Reshape", {"wt", "target"}, "mat"),
       Node("MatMul", {"mat", "sv"}, "mv"), Node("MatMul", {"su", "mv"}, "sigma"),
       Node("Div", {"w", "sigma"}, "W")},
      {FloatTensor("w", {kC, kM, kK, kK}, w0), FloatTensor("su", {kM}, u),
       FloatTensor("sv", {kC * kK * kK}, vv), zero, IntTensor("axis0", {0}),
       IntTensor("minus1", {-1})});
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  auto result = testing::RunPasses(model, "fold-conv-transpose-weights");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  const onnx::TensorProto* w = Initializer(model, "W");
  ASSERT_NE(w, nullptr);
  double sigma = 0;
  for (int64_t o = 0; o < kM; ++o) {
    double row = 0;
    for (int64_t c = 0; c < kC; ++c) {
      for (int64_t k = 0; k < kK * kK; ++k) {
        row += double{w0[(c * kM + o) * kK * kK + k]} * vv[c * kK * kK + k];
      }
    }
    sigma += u[o] * row;
  }
  std::vector<double> want(w0.size());
  for (size_t i = 0; i < w0.size(); ++i) want[i] = w0[i] / sigma;
  ExpectClose(Floats(*w), want);
  EXPECT_EQ(model.graph().node_size(), 1);
}

TEST(FoldWeights, KeepsWhatOthersReadAndListsIr3Inputs) {
  const std::vector<float> v = V(), g = {1, 2, 3, 4};
  onnx::ModelProto model = Model(8, {Node("Mul", {"v", "g"}, "W")},
                                 {FloatTensor("v", {kC, kM, kK, kK}, v),
                                  FloatTensor("g", {kC, 1, 1, 1}, g)},
                                 /*ir=*/3);
  onnx::GraphProto& graph = *model.mutable_graph();
  for (const auto& t : std::vector<onnx::TensorProto>(graph.initializer().begin(),
                                                      graph.initializer().end())) {
    AddInitializerInput(graph, t);
  }
  *graph.add_output() = graph.input(1);  // v is also a graph output: it stays
  ASSERT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  auto result = testing::RunPasses(model, "fold-conv-transpose-weights");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(VerifyModel(model).ok()) << VerifyModel(model);
  EXPECT_NE(Initializer(model, "v"), nullptr);
  EXPECT_EQ(Initializer(model, "g"), nullptr);
  std::vector<std::string> inputs;
  for (const auto& in : model.graph().input()) inputs.push_back(in.name());
  EXPECT_THAT(inputs, ::testing::ElementsAre("X", "v", "W"));
}

TEST(FoldWeights, LeavesUnsupportedOpsAndRunTimeValuesAlone) {
  const std::vector<float> v = V();
  onnx::ModelProto model = Model(13, {Node("Sin", {"v"}, "W")},
                                 {FloatTensor("v", {kC, kM, kK, kK}, v)});
  const std::string before = model.SerializeAsString();
  auto result = testing::RunPasses(model, "fold-conv-transpose-weights");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  auto annotation = ReadAnnotation(model);
  ASSERT_EQ(annotation->remarks_size(), 1);
  EXPECT_THAT(annotation->remarks(0).message(), HasSubstr("Sin node '/W' is not in the folded op set"));

  // Computed from a graph input: not constant, so not folded and not remarked here.
  onnx::ModelProto fed = Model(13, {Node("Mul", {"v", "X"}, "W")},
                               {FloatTensor("v", {kC, kM, kK, kK}, v)});
  result = testing::RunPasses(fed, "fold-conv-transpose-weights");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->passes[0].changed);
  EXPECT_EQ(ReadAnnotation(fed)->remarks_size(), 0);

  // Only Identity/Cast/DequantizeLinear: left to conv-transpose-to-tf (keeps the stored type).
  onnx::ModelProto chain = Model(13, {Node("Identity", {"v"}, "W")},
                                 {FloatTensor("v", {kC, kM, kK, kK}, v)});
  result = testing::RunPasses(chain, "fold-conv-transpose-weights");
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->passes[0].changed);
}

TEST(FoldWeights, LargeEmbeddedConstantsAreFoldedWhenTheToolStreams) {
  // tflayout-opt IN -o OUT leaves embedded weights of 1 MiB or more in the file while the passes
  // run; the constants a computed weight is made of are loaded for folding.
  constexpr int64_t c = 64, m = 64, k = 9;  // 1.3 MB of float
  std::vector<float> v(c * m * k * k), g(c);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.01f * static_cast<float>(i)) + 0.5f;
  for (int64_t i = 0; i < c; ++i) g[i] = 1.0f + static_cast<float>(i);
  testing::ConvTransposeSpec spec;
  spec.in_channels = c;
  spec.out_channels = m;
  spec.kernel = {k, k};
  onnx::ModelProto model = testing::MakeConvTransposeModel(spec);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.clear_initializer();
  *graph.add_initializer() = FloatTensor("v", {c, m, k, k}, v);
  *graph.add_initializer() = FloatTensor("g", {c, 1, 1, 1}, g);
  InsertNode(graph, 0, Node("Mul", {"v", "g"}, "W"));
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/in.onnx", model.SerializeAsString());
  auto run = testing::RunOpt({dir + "/in.onnx", "-o", dir + "/out.onnx"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("rewrote 1 of 1 ConvTranspose weight(s)"));
}

}  // namespace
}  // namespace tflayout
