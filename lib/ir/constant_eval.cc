#include "lib/ir/constant_eval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/node_util.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace constant_eval {

using onnx::NodeProto;
using onnx::TensorProto;

namespace {
int64_t Product(const std::vector<int64_t>& dims, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t i = from; i < std::min(to, dims.size()); ++i) n *= dims[i];
  return n;
}

}  // namespace

// ---- element encoding ----

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  uint32_t bits;
  if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {  // round to nearest even
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0);
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds past the largest half: inf
  if (abs < 0x38800000u) {                        // subnormal half (or zero)
    const float scaled = std::fabs(f) * 16777216.0f;  // 2^24: units of the smallest subnormal
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

float BfloatToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBfloat(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

bool IsFloatType(int32_t t) {
  return t == TensorProto::FLOAT || t == TensorProto::DOUBLE || t == TensorProto::FLOAT16 ||
         t == TensorProto::BFLOAT16;
}

bool IsSupportedType(int32_t t) {
  switch (t) {
    case TensorProto::FLOAT: case TensorProto::DOUBLE: case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: case TensorProto::INT8: case TensorProto::INT16:
    case TensorProto::INT32: case TensorProto::INT64: case TensorProto::UINT8:
    case TensorProto::UINT16: case TensorProto::UINT32: case TensorProto::BOOL:
      return true;
    default:
      return false;
  }
}

// The value `v` takes when stored as `type` (float rounding, integer truncation and wrap).
double RoundTo(int32_t type, double v) {
  switch (type) {
    case TensorProto::FLOAT: return static_cast<float>(v);
    case TensorProto::FLOAT16: return HalfToFloat(FloatToHalf(static_cast<float>(v)));
    case TensorProto::BFLOAT16: return BfloatToFloat(FloatToBfloat(static_cast<float>(v)));
    case TensorProto::DOUBLE: return v;
    case TensorProto::BOOL: return v != 0 ? 1 : 0;
    case TensorProto::INT8: return static_cast<int8_t>(static_cast<int64_t>(v));
    case TensorProto::UINT8: return static_cast<uint8_t>(static_cast<int64_t>(v));
    case TensorProto::INT16: return static_cast<int16_t>(static_cast<int64_t>(v));
    case TensorProto::UINT16: return static_cast<uint16_t>(static_cast<int64_t>(v));
    case TensorProto::INT32: return static_cast<int32_t>(static_cast<int64_t>(v));
    case TensorProto::UINT32: return static_cast<uint32_t>(static_cast<int64_t>(v));
    default: return static_cast<double>(static_cast<int64_t>(v));
  }
}

void RoundAll(Value& v) {
  for (double& x : v.data) x = RoundTo(v.type, x);
}

absl::StatusOr<Value> Decode(const TensorProto& tensor) {
  if (!IsSupportedType(tensor.data_type())) {
    return absl::UnimplementedError(absl::StrCat("element type ", DataTypeName(tensor.data_type())));
  }
  TFL_ASSIGN_OR_RETURN(std::string bytes, ReadElementBytes(tensor));
  Value v;
  v.type = tensor.data_type();
  v.dims.assign(tensor.dims().begin(), tensor.dims().end());
  const size_t elem = RawElementSize(v.type);
  const size_t n = bytes.size() / elem;
  v.data.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const char* p = bytes.data() + i * elem;
    auto load = [&](auto sample) {
      decltype(sample) x;
      std::memcpy(&x, p, sizeof x);
      return x;
    };
    switch (v.type) {
      case TensorProto::FLOAT: v.data[i] = load(float{}); break;
      case TensorProto::DOUBLE: v.data[i] = load(double{}); break;
      case TensorProto::FLOAT16: v.data[i] = HalfToFloat(load(uint16_t{})); break;
      case TensorProto::BFLOAT16: v.data[i] = BfloatToFloat(load(uint16_t{})); break;
      case TensorProto::INT8: v.data[i] = load(int8_t{}); break;
      case TensorProto::UINT8: case TensorProto::BOOL: v.data[i] = load(uint8_t{}); break;
      case TensorProto::INT16: v.data[i] = load(int16_t{}); break;
      case TensorProto::UINT16: v.data[i] = load(uint16_t{}); break;
      case TensorProto::INT32: v.data[i] = load(int32_t{}); break;
      case TensorProto::UINT32: v.data[i] = load(uint32_t{}); break;
      default: v.data[i] = static_cast<double>(load(int64_t{})); break;
    }
  }
  return v;
}

TensorProto Encode(const Value& v, const std::string& name) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(v.type);
  for (int64_t d : v.dims) t.add_dims(d);
  const size_t elem = RawElementSize(v.type);
  std::string bytes(v.data.size() * elem, '\0');
  for (size_t i = 0; i < v.data.size(); ++i) {
    char* p = bytes.data() + i * elem;
    auto store = [&](auto x) { std::memcpy(p, &x, sizeof x); };
    const double x = v.data[i];
    switch (v.type) {
      case TensorProto::FLOAT: store(static_cast<float>(x)); break;
      case TensorProto::DOUBLE: store(x); break;
      case TensorProto::FLOAT16: store(FloatToHalf(static_cast<float>(x))); break;
      case TensorProto::BFLOAT16: store(FloatToBfloat(static_cast<float>(x))); break;
      case TensorProto::INT8: store(static_cast<int8_t>(x)); break;
      case TensorProto::UINT8: case TensorProto::BOOL: store(static_cast<uint8_t>(x)); break;
      case TensorProto::INT16: store(static_cast<int16_t>(x)); break;
      case TensorProto::UINT16: store(static_cast<uint16_t>(x)); break;
      case TensorProto::INT32: store(static_cast<int32_t>(x)); break;
      case TensorProto::UINT32: store(static_cast<uint32_t>(x)); break;
      default: store(static_cast<int64_t>(x)); break;
    }
  }
  SetRawData(t, std::move(bytes));
  return t;
}

namespace {

// ---- attributes ----

std::vector<int64_t> AsInts(const Value& v) {
  std::vector<int64_t> out;
  for (double x : v.data) out.push_back(static_cast<int64_t>(x));
  return out;
}

absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat("axis ", axis, " out of range for rank ", rank));
  }
  return axis < 0 ? axis + rank : axis;
}

// ---- kernels ----

std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// Numpy-style (multidirectional) broadcast of n inputs with `fn` folding them element-wise.
absl::StatusOr<Value> Broadcast(const std::vector<const Value*>& in,
                                const std::function<double(double, double)>& fn) {
  size_t rank = 0;
  for (const Value* v : in) rank = std::max(rank, v->dims.size());
  std::vector<int64_t> out_dims(rank, 1);
  for (const Value* v : in) {
    for (size_t i = 0; i < v->dims.size(); ++i) {
      int64_t& d = out_dims[rank - v->dims.size() + i];
      const int64_t e = v->dims[i];
      if (e == d || e == 1) continue;
      if (d != 1) {
        return absl::InvalidArgumentError(absl::StrCat("shapes [", absl::StrJoin(v->dims, ","),
                                                       "] do not broadcast to [",
                                                       absl::StrJoin(out_dims, ","), "]"));
      }
      d = e;
    }
  }
  Value out;
  out.type = in[0]->type;
  out.dims = out_dims;
  const int64_t n = Product(out_dims);
  out.data.resize(n);
  std::vector<std::vector<int64_t>> strides;
  for (const Value* v : in) {
    std::vector<int64_t> s(rank, 0);
    const std::vector<int64_t> own = Strides(v->dims);
    for (size_t i = 0; i < v->dims.size(); ++i) {
      if (v->dims[i] != 1) s[rank - v->dims.size() + i] = own[i];
    }
    strides.push_back(std::move(s));
  }
  std::vector<int64_t> index(rank, 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    double acc = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      int64_t offset = 0;
      for (size_t i = 0; i < rank; ++i) offset += index[i] * strides[k][i];
      acc = k == 0 ? in[k]->data[offset] : fn(acc, in[k]->data[offset]);
    }
    out.data[flat] = acc;
    for (int i = static_cast<int>(rank) - 1; i >= 0 && ++index[i] == out_dims[i]; --i) index[i] = 0;
  }
  return out;
}

absl::StatusOr<Value> Reduce(const Value& x, std::vector<int64_t> axes, bool keepdims,
                             bool noop_with_empty_axes, const std::string& op) {
  if (axes.empty()) {
    if (noop_with_empty_axes) return x;
    axes.resize(x.rank());
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t a : axes) {
    TFL_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, x.rank()));
    reduced[axis] = true;
  }
  std::vector<int64_t> kept_dims;
  for (int64_t i = 0; i < x.rank(); ++i) kept_dims.push_back(reduced[i] ? 1 : x.dims[i]);
  const int64_t n = Product(kept_dims);
  const bool is_max = op == "ReduceMax", is_min = op == "ReduceMin";
  std::vector<double> acc(n, is_max ? -INFINITY : is_min ? INFINITY : 0.0);
  std::vector<int64_t> count(n, 0);
  const std::vector<int64_t> out_strides = Strides(kept_dims);
  std::vector<int64_t> index(x.rank(), 0);
  for (size_t flat = 0; flat < x.data.size(); ++flat) {
    int64_t o = 0;
    for (int64_t i = 0; i < x.rank(); ++i) o += (reduced[i] ? 0 : index[i]) * out_strides[i];
    const double v = x.data[flat];
    if (is_max) acc[o] = std::max(acc[o], v);
    else if (is_min) acc[o] = std::min(acc[o], v);
    else if (op == "ReduceL2" || op == "ReduceSumSquare") acc[o] += v * v;
    else acc[o] += v;
    ++count[o];
    for (int i = static_cast<int>(x.rank()) - 1; i >= 0 && ++index[i] == x.dims[i]; --i) index[i] = 0;
  }
  Value out;
  out.type = x.type;
  for (int64_t i = 0; i < x.rank(); ++i) {
    if (!reduced[i]) out.dims.push_back(x.dims[i]);
    else if (keepdims) out.dims.push_back(1);
  }
  for (int64_t o = 0; o < n; ++o) {
    if (op == "ReduceL2") acc[o] = std::sqrt(acc[o]);
    if (op == "ReduceMean") acc[o] /= static_cast<double>(std::max<int64_t>(count[o], 1));
  }
  out.data = std::move(acc);
  return out;
}

Value Transpose(const Value& x, std::vector<int64_t> perm) {
  if (perm.empty()) {
    for (int64_t i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
  }
  Value out;
  out.type = x.type;
  for (int64_t p : perm) out.dims.push_back(x.dims[p]);
  out.data.resize(x.data.size());
  const std::vector<int64_t> in_strides = Strides(x.dims);
  std::vector<int64_t> index(out.rank(), 0);
  for (size_t flat = 0; flat < out.data.size(); ++flat) {
    int64_t offset = 0;
    for (int64_t i = 0; i < out.rank(); ++i) offset += index[i] * in_strides[perm[i]];
    out.data[flat] = x.data[offset];
    for (int i = static_cast<int>(out.rank()) - 1; i >= 0 && ++index[i] == out.dims[i]; --i) index[i] = 0;
  }
  return out;
}

absl::StatusOr<Value> MatMul(Value a, Value b) {
  const bool a_vector = a.rank() == 1, b_vector = b.rank() == 1;
  if (a.rank() == 0 || b.rank() == 0) return absl::InvalidArgumentError("MatMul of a scalar");
  if (a_vector) a.dims.insert(a.dims.begin(), 1);
  if (b_vector) b.dims.push_back(1);
  const int64_t m = a.dims[a.rank() - 2], k = a.dims[a.rank() - 1];
  const int64_t k2 = b.dims[b.rank() - 2], n = b.dims[b.rank() - 1];
  if (k != k2) return absl::InvalidArgumentError(absl::StrCat("MatMul inner dims ", k, " and ", k2));
  // Batch dims broadcast like element-wise ops: broadcast index tensors over them.
  Value a_batch, b_batch;
  a_batch.dims.assign(a.dims.begin(), a.dims.end() - 2);
  b_batch.dims.assign(b.dims.begin(), b.dims.end() - 2);
  a_batch.data.resize(Product(a_batch.dims));
  b_batch.data.resize(Product(b_batch.dims));
  std::iota(a_batch.data.begin(), a_batch.data.end(), 0.0);
  std::iota(b_batch.data.begin(), b_batch.data.end(), 0.0);
  auto first = [](double x, double) { return x; };
  TFL_ASSIGN_OR_RETURN(Value ai, Broadcast({&a_batch, &b_batch}, first));
  TFL_ASSIGN_OR_RETURN(Value bi, Broadcast({&b_batch, &a_batch}, first));
  Value out;
  out.type = a.type;
  out.dims = ai.dims;
  out.dims.push_back(m);
  out.dims.push_back(n);
  out.data.assign(ai.data.size() * m * n, 0.0);
  for (size_t batch = 0; batch < ai.data.size(); ++batch) {
    const double* pa = a.data.data() + static_cast<int64_t>(ai.data[batch]) * m * k;
    const double* pb = b.data.data() + static_cast<int64_t>(bi.data[batch]) * k * n;
    double* po = out.data.data() + batch * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t t = 0; t < k; ++t) s += pa[i * k + t] * pb[t * n + j];
        po[i * n + j] = s;
      }
    }
  }
  if (b_vector) out.dims.pop_back();
  if (a_vector) out.dims.erase(out.dims.end() - (b_vector ? 1 : 2));
  return out;
}

absl::StatusOr<Value> Reshape(const Value& x, const std::vector<int64_t>& shape, bool allowzero) {
  Value out = x;
  out.dims.clear();
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == 0 && !allowzero) {
      if (i >= x.dims.size()) return absl::InvalidArgumentError("Reshape copies a missing dim");
      d = x.dims[i];
    }
    if (d == -1) {
      if (infer >= 0) return absl::InvalidArgumentError("Reshape with two -1 dims");
      infer = static_cast<int64_t>(i);
      out.dims.push_back(1);
      continue;
    }
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("Reshape to dim ", d));
    known *= d;
    out.dims.push_back(d);
  }
  const int64_t total = static_cast<int64_t>(x.data.size());
  if (infer >= 0) {
    if (known == 0 || total % known != 0) return absl::InvalidArgumentError("Reshape cannot infer -1");
    out.dims[infer] = total / known;
  }
  if (Product(out.dims) != total) {
    return absl::InvalidArgumentError(absl::StrCat("Reshape of ", total, " elements to [",
                                                   absl::StrJoin(out.dims, ","), "]"));
  }
  return out;
}

absl::StatusOr<Value> Concat(const std::vector<const Value*>& in, int64_t axis_attr) {
  const Value& first = *in[0];
  TFL_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_attr, first.rank()));
  Value out;
  out.type = first.type;
  out.dims = first.dims;
  out.dims[axis] = 0;
  for (const Value* v : in) {
    if (v->rank() != first.rank()) return absl::InvalidArgumentError("Concat of different ranks");
    out.dims[axis] += v->dims[axis];
  }
  const int64_t outer = Product(first.dims, 0, axis);
  for (int64_t o = 0; o < outer; ++o) {
    for (const Value* v : in) {
      const int64_t block = Product(v->dims, axis);
      out.data.insert(out.data.end(), v->data.begin() + o * block, v->data.begin() + (o + 1) * block);
    }
  }
  return out;
}

absl::StatusOr<Value> Gather(const Value& data, const Value& indices, int64_t axis_attr) {
  TFL_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_attr, data.rank()));
  Value out;
  out.type = data.type;
  out.dims.assign(data.dims.begin(), data.dims.begin() + axis);
  out.dims.insert(out.dims.end(), indices.dims.begin(), indices.dims.end());
  out.dims.insert(out.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  const int64_t outer = Product(data.dims, 0, axis), inner = Product(data.dims, axis + 1);
  for (int64_t o = 0; o < outer; ++o) {
    for (double raw : indices.data) {
      int64_t i = static_cast<int64_t>(raw);
      if (i < 0) i += data.dims[axis];
      if (i < 0 || i >= data.dims[axis]) return absl::InvalidArgumentError("Gather index out of range");
      const auto from = data.data.begin() + (o * data.dims[axis] + i) * inner;
      out.data.insert(out.data.end(), from, from + inner);
    }
  }
  return out;
}

double Binary(const std::string& op, int32_t type, double a, double b) {
  if (op == "Add") return a + b;
  if (op == "Sub") return a - b;
  if (op == "Mul") return a * b;
  if (op == "Div") return IsFloatType(type) ? a / b : (b == 0 ? 0 : std::trunc(a / b));
  if (op == "Pow") return std::pow(a, b);
  if (op == "Max") return std::max(a, b);
  return std::min(a, b);  // Min
}

double Unary(const std::string& op, double x) {
  if (op == "Sqrt") return std::sqrt(x);
  if (op == "Neg") return -x;
  if (op == "Abs") return std::fabs(x);
  if (op == "Reciprocal") return 1.0 / x;
  if (op == "Exp") return std::exp(x);
  return std::log(x);  // Log
}

}  // namespace

const absl::flat_hash_set<std::string>& FoldedOps() {
  static const auto* ops = new absl::flat_hash_set<std::string>{
      "Constant", "Identity", "Cast", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sqrt",
      "Neg", "Abs", "Reciprocal", "Exp", "Log", "ReduceL2", "ReduceSum", "ReduceSumSquare",
      "ReduceMean", "ReduceMax", "ReduceMin", "Reshape", "Unsqueeze", "Squeeze", "Transpose",
      "MatMul", "Concat", "Shape", "Gather", "ConstantOfShape", "DequantizeLinear"};
  return *ops;
}

bool IsChainOp(const std::string& op) {
  return op == "Identity" || op == "Cast" || op == "DequantizeLinear";
}

// Evaluates one node given its input values (empty optional inputs are nullptr).
absl::StatusOr<Value> EvalNode(const NodeProto& node, const std::vector<const Value*>& in,
                               int64_t opset) {
  const std::string& op = node.op_type();
  auto input = [&](size_t i) -> const Value* { return i < in.size() ? in[i] : nullptr; };
  auto need = [&](size_t i) -> absl::StatusOr<const Value*> {
    if (input(i) == nullptr) return absl::InvalidArgumentError(absl::StrCat("input ", i, " missing"));
    return input(i);
  };
  if (op == "Constant") {
    if (const auto* a = FindAttribute(node, "value")) return Decode(a->t());
    Value v;
    if (const auto* a = FindAttribute(node, "value_float")) { v.data = {a->f()}; return v; }
    if (const auto* a = FindAttribute(node, "value_floats")) {
      v.dims = {a->floats_size()};
      v.data.assign(a->floats().begin(), a->floats().end());
      return v;
    }
    v.type = TensorProto::INT64;
    if (const auto* a = FindAttribute(node, "value_int")) { v.data = {static_cast<double>(a->i())}; return v; }
    if (const auto* a = FindAttribute(node, "value_ints")) {
      v.dims = {a->ints_size()};
      for (int64_t x : a->ints()) v.data.push_back(static_cast<double>(x));
      return v;
    }
    return absl::UnimplementedError("Constant without a value or value_float(s)/value_int(s)");
  }
  TFL_ASSIGN_OR_RETURN(const Value* x, need(0));
  if (op == "Identity") return *x;
  if (op == "Cast") {
    Value out = *x;
    out.type = static_cast<int32_t>(IntAttribute(node, "to", TensorProto::FLOAT));
    if (!IsSupportedType(out.type)) return absl::UnimplementedError("Cast to an unsupported type");
    if (!IsFloatType(out.type)) {
      for (double& v : out.data) v = std::isfinite(v) ? std::trunc(v) : 0;
    }
    return out;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" ||
      op == "Min") {
    std::vector<const Value*> operands;
    for (const Value* v : in) {
      if (v != nullptr) operands.push_back(v);
    }
    if (operands.size() < 2 && op != "Max" && op != "Min") return absl::InvalidArgumentError("needs two inputs");
    const int32_t type = x->type;
    return Broadcast(operands, [&](double a, double b) { return Binary(op, type, a, b); });
  }
  if (op == "Sqrt" || op == "Neg" || op == "Abs" || op == "Reciprocal" || op == "Exp" || op == "Log") {
    Value out = *x;
    for (double& v : out.data) v = Unary(op, v);
    return out;
  }
  if (absl::StartsWith(op, "Reduce")) {
    const bool axes_as_input = op == "ReduceSum" ? opset >= 13 : opset >= 18;
    std::vector<int64_t> axes = axes_as_input ? (input(1) ? AsInts(*input(1)) : std::vector<int64_t>{})
                                              : IntsAttribute(node, "axes");
    return Reduce(*x, axes, IntAttribute(node, "keepdims", 1) != 0,
                  axes_as_input && IntAttribute(node, "noop_with_empty_axes", 0) != 0, op);
  }
  if (op == "Reshape") {
    std::vector<int64_t> shape;
    if (opset < 5) {
      shape = IntsAttribute(node, "shape");
    } else {
      TFL_ASSIGN_OR_RETURN(const Value* s, need(1));
      shape = AsInts(*s);
    }
    return Reshape(*x, shape, IntAttribute(node, "allowzero", 0) != 0);
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes = opset >= 13 ? (input(1) ? AsInts(*input(1)) : std::vector<int64_t>{})
                                            : IntsAttribute(node, "axes");
    Value out = *x;
    if (op == "Unsqueeze") {
      const int64_t rank = x->rank() + static_cast<int64_t>(axes.size());
      std::vector<bool> inserted(rank, false);
      for (int64_t a : axes) {
        TFL_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank));
        inserted[axis] = true;
      }
      out.dims.clear();
      size_t next = 0;
      for (int64_t i = 0; i < rank; ++i) out.dims.push_back(inserted[i] ? 1 : x->dims[next++]);
      return out;
    }
    std::vector<bool> removed(x->rank(), axes.empty());
    for (int64_t a : axes) {
      TFL_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, x->rank()));
      removed[axis] = true;
    }
    out.dims.clear();
    for (int64_t i = 0; i < x->rank(); ++i) {
      if (removed[i] && x->dims[i] == 1) continue;
      if (removed[i] && !axes.empty()) return absl::InvalidArgumentError("Squeeze of a dim that is not 1");
      out.dims.push_back(x->dims[i]);
    }
    return out;
  }
  if (op == "Transpose") return Transpose(*x, IntsAttribute(node, "perm"));
  if (op == "MatMul") {
    TFL_ASSIGN_OR_RETURN(const Value* y, need(1));
    return MatMul(*x, *y);
  }
  if (op == "Concat") return Concat(in, IntAttribute(node, "axis", 0));
  if (op == "Shape") {
    int64_t start = IntAttribute(node, "start", 0), end = IntAttribute(node, "end", x->rank());
    if (start < 0) start += x->rank();
    if (end < 0) end += x->rank();
    start = std::clamp<int64_t>(start, 0, x->rank());
    end = std::clamp<int64_t>(end, start, x->rank());
    Value out;
    out.type = TensorProto::INT64;
    out.dims = {end - start};
    for (int64_t i = start; i < end; ++i) out.data.push_back(static_cast<double>(x->dims[i]));
    return out;
  }
  if (op == "Gather") {
    TFL_ASSIGN_OR_RETURN(const Value* indices, need(1));
    return Gather(*x, *indices, IntAttribute(node, "axis", 0));
  }
  if (op == "ConstantOfShape") {
    Value out;
    out.dims = AsInts(*x);
    double fill = 0;
    if (const auto* a = FindAttribute(node, "value")) {
      TFL_ASSIGN_OR_RETURN(Value v, Decode(a->t()));
      out.type = v.type;
      if (!v.data.empty()) fill = v.data[0];
    }
    out.data.assign(Product(out.dims), fill);
    return out;
  }
  if (op == "DequantizeLinear") {
    TFL_ASSIGN_OR_RETURN(const Value* scale, need(1));
    const Value* zero = input(2);
    Value out;
    out.type = scale->type;
    out.dims = x->dims;
    out.data.resize(x->data.size());
    const bool per_axis = scale->rank() == 1 && scale->data.size() > 1;
    int64_t axis = 0, inner = 1, count = 1;
    if (per_axis) {
      TFL_ASSIGN_OR_RETURN(axis, NormalizeAxis(IntAttribute(node, "axis", 1), x->rank()));
      inner = Product(x->dims, axis + 1);
      count = x->dims[axis];
    }
    for (size_t i = 0; i < x->data.size(); ++i) {
      const size_t c = per_axis ? (i / inner) % count : 0;
      const double zp = zero ? zero->data[zero->data.size() == 1 ? 0 : c] : 0;
      out.data[i] = (x->data[i] - zp) * scale->data[scale->data.size() == 1 ? 0 : c];
    }
    return out;
  }
  return absl::UnimplementedError(absl::StrCat("op ", op, " is not folded"));
}

}  // namespace constant_eval
}  // namespace tflayout
