#include "tflayout/node_util.h"

#include <utility>

#include "absl/container/flat_hash_map.h"

namespace tflayout {

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, absl::string_view name) {
  for (const onnx::AttributeProto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

onnx::AttributeProto* FindMutableAttribute(onnx::NodeProto& node, absl::string_view name) {
  for (onnx::AttributeProto& attr : *node.mutable_attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback) {
  const onnx::AttributeProto* attr = FindAttribute(node, name);
  return attr != nullptr ? attr->i() : fallback;
}

std::vector<int64_t> IntsAttribute(const onnx::NodeProto& node, absl::string_view name,
                                   std::vector<int64_t> fallback) {
  const onnx::AttributeProto* attr = FindAttribute(node, name);
  if (attr == nullptr) return fallback;
  return std::vector<int64_t>(attr->ints().begin(), attr->ints().end());
}

std::string StringAttribute(const onnx::NodeProto& node, absl::string_view name,
                            absl::string_view fallback) {
  const onnx::AttributeProto* attr = FindAttribute(node, name);
  return attr != nullptr ? attr->s() : std::string(fallback);
}

namespace {

// The attribute called `name`, cleared for a new value of `type`, or a new one at the end.
onnx::AttributeProto& ResetAttribute(onnx::NodeProto& node, absl::string_view name,
                                     onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto* attr = FindMutableAttribute(node, name);
  if (attr == nullptr) {
    attr = node.add_attribute();
  } else {
    attr->Clear();
  }
  attr->set_name(std::string(name));
  attr->set_type(type);
  return *attr;
}

}  // namespace

void SetIntAttribute(onnx::NodeProto& node, absl::string_view name, int64_t value) {
  ResetAttribute(node, name, onnx::AttributeProto::INT).set_i(value);
}

void SetIntsAttribute(onnx::NodeProto& node, absl::string_view name,
                      absl::Span<const int64_t> values) {
  onnx::AttributeProto& attr = ResetAttribute(node, name, onnx::AttributeProto::INTS);
  for (int64_t v : values) attr.add_ints(v);
}

bool RemoveAttribute(onnx::NodeProto& node, absl::string_view name) {
  auto* attrs = node.mutable_attribute();
  bool removed = false;
  for (int i = attrs->size() - 1; i >= 0; --i) {
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      removed = true;
    }
  }
  return removed;
}

void ForEachSubgraph(onnx::NodeProto& node, const std::function<void(onnx::GraphProto&)>& fn) {
  for (onnx::AttributeProto& attr : *node.mutable_attribute()) {
    if (attr.has_g()) fn(*attr.mutable_g());
    for (onnx::GraphProto& graph : *attr.mutable_graphs()) fn(graph);
  }
}

void ForEachSubgraph(const onnx::NodeProto& node,
                     const std::function<void(const onnx::GraphProto&)>& fn) {
  for (const onnx::AttributeProto& attr : node.attribute()) {
    if (attr.has_g()) fn(attr.g());
    for (const onnx::GraphProto& graph : attr.graphs()) fn(graph);
  }
}

void ForEachNodeDeep(NodeList& nodes, const std::function<void(onnx::NodeProto&)>& fn) {
  for (onnx::NodeProto& node : nodes) {
    fn(node);
    ForEachSubgraph(node, [&](onnx::GraphProto& sub) { ForEachNodeDeep(*sub.mutable_node(), fn); });
  }
}

void ForEachNodeDeep(const NodeList& nodes, const std::function<void(const onnx::NodeProto&)>& fn) {
  for (const onnx::NodeProto& node : nodes) {
    fn(node);
    ForEachSubgraph(node, [&](const onnx::GraphProto& sub) { ForEachNodeDeep(sub.node(), fn); });
  }
}

std::vector<OperatorWeight> OperatorWeights(const GraphView& view, absl::string_view op_type,
                                            int input_index) {
  std::vector<OperatorWeight> weights;
  absl::flat_hash_map<std::string, size_t> index_of;
  for (const auto& info : view.graphs()) {
    for (onnx::NodeProto& node : *info->graph->mutable_node()) {
      if (!IsOnnxOp(node, op_type) || node.input_size() <= input_index ||
          node.input(input_index).empty()) {
        continue;
      }
      const std::string& name = node.input(input_index);
      auto [it, inserted] = index_of.try_emplace(name, weights.size());
      if (inserted) weights.push_back({name, {}});
      weights[it->second].readers.push_back({info.get(), &node});
    }
  }
  return weights;
}

}  // namespace tflayout
