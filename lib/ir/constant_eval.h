// A small interpreter of ONNX ops on constant tensors: the values a constant subgraph computes
// (weight_norm's v * g / ||v||, a Reshape of a Concat of Shapes, a DequantizeLinear), with the
// element codecs it needs (fp16 and bf16 round to nearest even, integers truncate and wrap).
//
// Values are held as double, row-major: exact for every float type evaluated and for integers
// up to 2^53. Every op's result is meant to be rounded to its element type (RoundAll), as a
// runtime storing it would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"

namespace tflayout {
namespace constant_eval {

struct Value {
  int32_t type = onnx::TensorProto::FLOAT;
  std::vector<int64_t> dims;
  std::vector<double> data;
  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
};

// IEEE binary16 and bfloat16 bits <-> float; float -> 16 bits rounds to nearest even, NaN
// stays NaN (quiet), values past the largest finite half become infinity.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BfloatToFloat(uint16_t b);
uint16_t FloatToBfloat(float f);

bool IsFloatType(int32_t type);
// Element types Decode, Encode and EvalNode handle.
bool IsSupportedType(int32_t type);
// The value `v` takes when stored as `type` (float rounding, integer truncation and wrap).
double RoundTo(int32_t type, double v);
void RoundAll(Value& v);

// A tensor's elements (raw_data or the typed fields); Unimplemented for other element types.
absl::StatusOr<Value> Decode(const onnx::TensorProto& tensor);
// A tensor named `name` holding `v` in raw_data.
onnx::TensorProto Encode(const Value& v, const std::string& name);

// The ai.onnx ops EvalNode evaluates.
const absl::flat_hash_set<std::string>& FoldedOps();
// Ops that change a weight's representation but not its layout (Identity, Cast,
// DequantizeLinear).
bool IsChainOp(const std::string& op);
// Evaluates one ai.onnx node of the given opset on its input values (empty optional inputs
// are nullptr); Unimplemented for ops outside FoldedOps.
absl::StatusOr<Value> EvalNode(const onnx::NodeProto& node, const std::vector<const Value*>& in,
                               int64_t opset);

}  // namespace constant_eval
}  // namespace tflayout
