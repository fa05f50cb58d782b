// Small questions every pass asks of ONNX nodes, answered in one place: is this a standard
// (ai.onnx) node of a given type, what are its attributes, which graphs does it hold, and
// which constant weights do nodes of one type read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "onnx/onnx_pb.h"
#include "tflayout/graph_view.h"

namespace tflayout {

// The default operator set: "" and "ai.onnx" name the same domain.
inline bool IsOnnxDomain(absl::string_view domain) {
  return domain.empty() || domain == "ai.onnx";
}
// The domain as opset imports and schemas spell it ("ai.onnx" -> "").
inline std::string CanonicalDomain(absl::string_view domain) {
  return IsOnnxDomain(domain) ? std::string() : std::string(domain);
}
// `node` is the standard operator `op_type` (not a same-named op of another domain).
inline bool IsOnnxOp(const onnx::NodeProto& node, absl::string_view op_type) {
  return node.op_type() == op_type && IsOnnxDomain(node.domain());
}

// The attribute called `name`, or nullptr.
const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, absl::string_view name);
onnx::AttributeProto* FindMutableAttribute(onnx::NodeProto& node, absl::string_view name);

// Typed reads with the operator's default for an absent attribute.
int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback);
std::vector<int64_t> IntsAttribute(const onnx::NodeProto& node, absl::string_view name,
                                   std::vector<int64_t> fallback = {});
std::string StringAttribute(const onnx::NodeProto& node, absl::string_view name,
                            absl::string_view fallback = "");

// Writes replace an attribute of the same name (keeping its position) or append one.
void SetIntAttribute(onnx::NodeProto& node, absl::string_view name, int64_t value);
void SetIntsAttribute(onnx::NodeProto& node, absl::string_view name,
                      absl::Span<const int64_t> values);
// Removes every attribute called `name`; returns whether there was one.
bool RemoveAttribute(onnx::NodeProto& node, absl::string_view name);

// Calls fn on each graph `node` holds (If branches, Loop/Scan bodies: GRAPH and GRAPHS
// attributes), not recursively.
void ForEachSubgraph(onnx::NodeProto& node, const std::function<void(onnx::GraphProto&)>& fn);
void ForEachSubgraph(const onnx::NodeProto& node,
                     const std::function<void(const onnx::GraphProto&)>& fn);

// Calls fn on every node of `nodes` (a graph's or a function body's) and of the graphs nested
// in them at any depth, each node before its subgraphs' nodes.
using NodeList = google::protobuf::RepeatedPtrField<onnx::NodeProto>;
void ForEachNodeDeep(NodeList& nodes, const std::function<void(onnx::NodeProto&)>& fn);
void ForEachNodeDeep(const NodeList& nodes, const std::function<void(const onnx::NodeProto&)>& fn);

// A node reading a weight, and the graph it sits in.
struct WeightReader {
  const GraphInfo* graph = nullptr;
  onnx::NodeProto* node = nullptr;
};
// One weight name and every node of the operator that reads it at that input.
struct OperatorWeight {
  std::string name;
  std::vector<WeightReader> readers;
};
// The values read as input `input_index` by standard `op_type` nodes in any graph of the
// view, in order of first use: the weights a weight-layout pass considers. Whether each is
// a constant is the caller's question (FindConstant).
std::vector<OperatorWeight> OperatorWeights(const GraphView& view, absl::string_view op_type,
                                            int input_index);

}  // namespace tflayout
