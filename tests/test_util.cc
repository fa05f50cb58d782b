#include "tests/test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tflayout/model_io.h"
#include "tflayout/tensor.h"
#include "tflayout/register_builtin_passes.h"

namespace tflayout::testing {
namespace fs = std::filesystem;

const char* StorageName(WeightStorage storage) {
  switch (storage) {
    case WeightStorage::kRaw: return "raw";
    case WeightStorage::kTyped: return "typed";
    case WeightStorage::kExternal: return "external";
    case WeightStorage::kConstantNode: return "constant";
  }
  return "?";
}

std::vector<int64_t> WeightDims(const ConvTransposeSpec& spec) {
  std::vector<int64_t> dims = {spec.in_channels, spec.out_channels / spec.group};
  for (int i = 0; i < spec.spatial_rank; ++i) {
    dims.push_back(spec.kernel.empty() ? 3 : spec.kernel[i]);
  }
  return dims;
}

namespace {

void AddInts(onnx::NodeProto& node, const char* name, const std::vector<int64_t>& values) {
  if (values.empty()) return;
  auto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

void SetShape(onnx::ValueInfoProto& vi, int32_t type, const std::vector<int64_t>& dims) {
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    if (d >= 0) {
      shape->add_dim()->set_dim_value(d);
    } else {
      shape->add_dim()->set_dim_param("d");
    }
  }
}

// Element i of a generated weight: distinct for every i within the type's range.
void FillTensor(onnx::TensorProto& t, int64_t count, bool typed) {
  const size_t elem = RawElementSize(t.data_type());
  std::string raw(static_cast<size_t>(count) * elem, '\0');
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t v = static_cast<uint64_t>(i + 1);
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: {
        float f = static_cast<float>(v);
        std::memcpy(raw.data() + i * 4, &f, 4);
        break;
      }
      case onnx::TensorProto::DOUBLE: {
        double d = static_cast<double>(v);
        std::memcpy(raw.data() + i * 8, &d, 8);
        break;
      }
      default:  // integers and 16-bit floats: the bit pattern of i+1 is a distinct value
        std::memcpy(raw.data() + i * elem, &v, elem);
    }
  }
  if (!typed) {
    t.set_raw_data(raw);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * elem;
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: { float f; std::memcpy(&f, p, 4); t.add_float_data(f); break; }
      case onnx::TensorProto::DOUBLE: { double d; std::memcpy(&d, p, 8); t.add_double_data(d); break; }
      case onnx::TensorProto::INT64: { int64_t x; std::memcpy(&x, p, 8); t.add_int64_data(x); break; }
      case onnx::TensorProto::INT8: t.add_int32_data(static_cast<int8_t>(*p)); break;
      case onnx::TensorProto::UINT8: t.add_int32_data(static_cast<uint8_t>(*p)); break;
      default: {  // 16-bit types: the bits in the low half of an int32
        uint16_t h; std::memcpy(&h, p, 2); t.add_int32_data(h); break;
      }
    }
  }
}

}  // namespace

onnx::ModelProto MakeConvTransposeModel(const ConvTransposeSpec& spec, const std::string& folder) {
  onnx::ModelProto model;
  model.set_ir_version(spec.ir_version);
  model.set_producer_name("tflayout-tests");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(spec.opset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("conv_transpose_test");

  const std::vector<int64_t> wdims = WeightDims(spec);
  std::vector<int64_t> xdims = {1, spec.in_channels};
  for (int i = 0; i < spec.spatial_rank; ++i) {
    xdims.push_back(spec.input_spatial.empty() ? 5 : spec.input_spatial[i]);
  }
  SetShape(*graph->add_input(), spec.data_type, xdims);
  graph->mutable_input(0)->set_name("X");

  onnx::TensorProto weight;
  weight.set_name("W");
  weight.set_data_type(spec.data_type);
  int64_t count = 1;
  for (int64_t d : wdims) {
    weight.add_dims(d);
    count *= d;
  }
  FillTensor(weight, count, spec.storage == WeightStorage::kTyped);
  if (spec.storage == WeightStorage::kExternal) {
    WriteFile(folder + "/weights.bin", "PAD!" + weight.raw_data());  // offset 4 on purpose
    const auto length = static_cast<int64_t>(weight.raw_data().size());
    weight.clear_raw_data();
    SetExternalDataEntries(weight, "weights.bin", 4, length);
  }
  if (spec.storage == WeightStorage::kConstantNode) {
    onnx::NodeProto* constant = graph->add_node();
    constant->set_name("W_const");
    constant->set_op_type("Constant");
    constant->add_output("W");
    auto* attr = constant->add_attribute();
    attr->set_name("value");
    attr->set_type(onnx::AttributeProto::TENSOR);
    *attr->mutable_t() = weight;
  } else {
    *graph->add_initializer() = weight;
  }
  if (spec.with_bias) {
    onnx::TensorProto* bias = graph->add_initializer();
    bias->set_name("B");
    bias->set_data_type(spec.data_type);
    bias->add_dims(spec.out_channels);
    FillTensor(*bias, spec.out_channels, false);
  }

  onnx::NodeProto* node = graph->add_node();
  node->set_name("deconv");
  node->set_op_type("ConvTranspose");
  node->add_input("X");
  node->add_input("W");
  if (spec.with_bias) node->add_input("B");
  node->add_output("Y");
  if (spec.group != 1) {
    auto* g = node->add_attribute();
    g->set_name("group");
    g->set_type(onnx::AttributeProto::INT);
    g->set_i(spec.group);
  }
  AddInts(*node, "strides", spec.strides);
  AddInts(*node, "pads", spec.pads);
  AddInts(*node, "dilations", spec.dilations);
  AddInts(*node, "output_padding", spec.output_padding);
  AddInts(*node, "output_shape", spec.output_shape);
  if (!spec.auto_pad.empty()) {
    auto* a = node->add_attribute();
    a->set_name("auto_pad");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(spec.auto_pad);
  }
  onnx::ValueInfoProto* y = graph->add_output();
  y->set_name("Y");
  SetShape(*y, spec.data_type, std::vector<int64_t>(spec.spatial_rank + 2, -1));
  return model;
}

onnx::TensorProto RawFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                 float start, float step) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    count *= d;
  }
  std::vector<float> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = start + static_cast<float>(i) * step;
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return t;
}

std::string WeightBytes(const onnx::ModelProto& model, const std::string& tensor_name) {
  for (const auto& t : model.graph().initializer()) {
    if (t.name() == tensor_name) return ReadElementBytes(t).value();
  }
  for (const auto& node : model.graph().node()) {
    if (node.op_type() == "Constant" && node.output(0) == tensor_name) {
      return ReadElementBytes(node.attribute(0).t()).value();
    }
  }
  return "<missing " + tensor_name + ">";
}

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = (fs::path(base ? base : "/tmp") / "tflayout_test_XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string("/tmp");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool FileExists(const std::string& path) { return fs::exists(path); }

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

CommandResult RunOpt(const std::vector<std::string>& args) {
  std::string command = std::string("'") + TFLAYOUT_OPT_PATH + "'";
  for (const std::string& arg : args) {
    std::string quoted;
    for (char c : arg) quoted += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    command += " '" + quoted + "'";
  }
  return RunShell(command + " 2>&1");
}

CommandResult RunShell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

absl::StatusOr<PipelineResult> RunPasses(onnx::ModelProto& model, const std::string& pipeline) {
  PassRegistry registry;
  if (absl::Status st = RegisterBuiltinPasses(registry); !st.ok()) return st;
  auto passes = ParsePipeline(pipeline, registry);
  if (!passes.ok()) return passes.status();
  return RunPipeline(model, *passes);
}

std::string SourcePath(const std::string& relative) {
  return std::string(TFLAYOUT_SOURCE_DIR) + "/" + relative;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

}  // namespace tflayout::testing
