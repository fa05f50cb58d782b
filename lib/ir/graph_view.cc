#include "tflayout/node_util.h"
#include "tflayout/graph_view.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tflayout/status.h"

namespace tflayout {
namespace {

using onnx::AttributeProto;
using onnx::GraphProto;
using onnx::NodeProto;
using onnx::TensorProto;

absl::Status ForEachTensorInGraph(GraphProto& graph,
                                  const std::function<absl::Status(TensorProto&)>& fn);

absl::Status ForEachTensorInNodes(
    google::protobuf::RepeatedPtrField<NodeProto>& nodes,
    const std::function<absl::Status(TensorProto&)>& fn) {
  for (NodeProto& node : nodes) {
    for (AttributeProto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) TFL_RETURN_IF_ERROR(fn(*attr.mutable_t()));
      for (TensorProto& t : *attr.mutable_tensors()) TFL_RETURN_IF_ERROR(fn(t));
      if (attr.has_sparse_tensor()) {
        TFL_RETURN_IF_ERROR(fn(*attr.mutable_sparse_tensor()->mutable_values()));
        TFL_RETURN_IF_ERROR(fn(*attr.mutable_sparse_tensor()->mutable_indices()));
      }
      if (attr.has_g()) TFL_RETURN_IF_ERROR(ForEachTensorInGraph(*attr.mutable_g(), fn));
      for (GraphProto& g : *attr.mutable_graphs()) {
        TFL_RETURN_IF_ERROR(ForEachTensorInGraph(g, fn));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ForEachTensorInGraph(GraphProto& graph,
                                  const std::function<absl::Status(TensorProto&)>& fn) {
  for (TensorProto& t : *graph.mutable_initializer()) TFL_RETURN_IF_ERROR(fn(t));
  for (onnx::SparseTensorProto& s : *graph.mutable_sparse_initializer()) {
    TFL_RETURN_IF_ERROR(fn(*s.mutable_values()));
    TFL_RETURN_IF_ERROR(fn(*s.mutable_indices()));
  }
  return ForEachTensorInNodes(*graph.mutable_node(), fn);
}

// Depth of graph nesting below `graph` (0 when it has no subgraphs); stops early past limit.
int MaxNestingBelow(const google::protobuf::RepeatedPtrField<NodeProto>& nodes, int limit) {
  if (limit < 0) return 0;
  int deepest = 0;
  for (const NodeProto& node : nodes) {
    for (const AttributeProto& attr : node.attribute()) {
      auto visit = [&](const GraphProto& g) {
        deepest = std::max(deepest, 1 + MaxNestingBelow(g.node(), limit - 1));
      };
      if (attr.has_g()) visit(attr.g());
      for (const GraphProto& g : attr.graphs()) visit(g);
      if (deepest > limit) return deepest;
    }
  }
  return deepest;
}

}  // namespace

absl::Status ForEachTensor(onnx::ModelProto& model,
                           const std::function<absl::Status(TensorProto&)>& fn) {
  TFL_RETURN_IF_ERROR(ForEachTensorInGraph(*model.mutable_graph(), fn));
  for (onnx::FunctionProto& f : *model.mutable_functions()) {
    TFL_RETURN_IF_ERROR(ForEachTensorInNodes(*f.mutable_node(), fn));
  }
  return absl::OkStatus();
}

absl::Status CheckGraphDepth(const onnx::ModelProto& model, int max_depth) {
  const int depth = MaxNestingBelow(model.graph().node(), max_depth);
  int function_depth = 0;
  for (const onnx::FunctionProto& f : model.functions()) {
    function_depth = std::max(function_depth, MaxNestingBelow(f.node(), max_depth));
  }
  if (std::max(depth, function_depth) > max_depth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subgraphs nest deeper than the limit of ", max_depth, " levels"));
  }
  return absl::OkStatus();
}

GraphView::GraphView(onnx::ModelProto& model) : ir_version_(model.ir_version()) {
  Walk(model.mutable_graph(), nullptr, nullptr, "");
}

void GraphView::Walk(GraphProto* graph, const GraphInfo* parent, NodeProto* owner,
                     std::string path) {
  graphs_.push_back(std::make_unique<GraphInfo>());
  GraphInfo* info = graphs_.back().get();
  info->graph = graph;
  info->parent = parent;
  info->owner = owner;
  info->depth = parent ? parent->depth + 1 : 0;
  info->path = std::move(path);

  for (TensorProto& init : *graph->mutable_initializer()) {
    definitions_[init.name()].push_back({Definition::Kind::kInitializer, info, nullptr, &init});
    taken_.insert(init.name());
  }
  for (onnx::SparseTensorProto& s : *graph->mutable_sparse_initializer()) {
    taken_.insert(s.values().name());
  }
  for (const onnx::ValueInfoProto& in : graph->input()) {
    definitions_[in.name()].push_back({Definition::Kind::kGraphInput, info, nullptr, nullptr});
    taken_.insert(in.name());
  }
  for (const onnx::ValueInfoProto& out : graph->output()) {
    uses_[out.name()].push_back({info, nullptr, -1});
    taken_.insert(out.name());
  }
  for (const onnx::ValueInfoProto& vi : graph->value_info()) taken_.insert(vi.name());
  for (NodeProto& node : *graph->mutable_node()) {
    if (!node.name().empty()) taken_.insert(node.name());
    for (int i = 0; i < node.input_size(); ++i) {
      if (node.input(i).empty()) continue;  // an omitted optional input
      uses_[node.input(i)].push_back({info, &node, i});
      taken_.insert(node.input(i));
    }
    for (const std::string& out : node.output()) {
      if (out.empty()) continue;
      definitions_[out].push_back({Definition::Kind::kNodeOutput, info, &node, nullptr});
      taken_.insert(out);
    }
    for (onnx::AttributeProto& attr : *node.mutable_attribute()) {
      if (attr.has_g()) {
        Walk(attr.mutable_g(), info, &node,
             absl::StrCat(info->path, info->path.empty() ? "" : "/", node.name(), "/",
                          attr.name()));
      }
      for (int g = 0; g < attr.graphs_size(); ++g) {
        Walk(attr.mutable_graphs(g), info, &node,
             absl::StrCat(info->path, info->path.empty() ? "" : "/", node.name(), "/",
                          attr.name(), "[", g, "]"));
      }
    }
  }
}

const std::vector<GraphView::Definition>& GraphView::Definitions(absl::string_view name) const {
  static const std::vector<Definition> kNone;
  auto it = definitions_.find(name);
  return it == definitions_.end() ? kNone : it->second;
}

const std::vector<GraphView::Use>& GraphView::Uses(absl::string_view name) const {
  static const std::vector<Use> kNone;
  auto it = uses_.find(name);
  return it == uses_.end() ? kNone : it->second;
}

std::string ScopeSafeName(absl::string_view base) {
  auto may_start = [](char c) { return absl::ascii_isalnum(c) || c == '.'; };
  auto may_follow = [&](char c) {
    return may_start(c) || c == '_' || c == '\\' || c == '/' || c == '>' || c == '-';
  };
  size_t start = 0;
  while (start < base.size() && !may_start(base[start])) ++start;
  std::string safe(base.substr(start));
  for (char& c : safe) {
    if (!may_follow(c)) c = '_';
  }
  return safe.empty() ? "t" : safe;
}

std::string GraphView::UniqueName(absl::string_view base_text) {
  const std::string base = ScopeSafeName(base_text);
  std::string candidate = base;
  for (int n = 1; taken_.contains(candidate); ++n) candidate = absl::StrCat(base, "_", n);
  taken_.insert(candidate);
  return candidate;
}

const GraphInfo* GraphView::InfoFor(const GraphProto* graph) const {
  for (const auto& info : graphs_) {
    if (info->graph == graph) return info.get();
  }
  return nullptr;
}

absl::StatusOr<ConstantValue> FindConstant(const GraphView& view, absl::string_view name,
                                           const ConstantOptions& options) {
  const auto& defs = view.Definitions(name);
  if (defs.empty()) {
    return absl::NotFoundError(absl::StrCat("'", name, "' is not defined"));
  }
  ConstantValue found;
  bool is_input = false;
  for (const GraphView::Definition& def : defs) {
    switch (def.kind) {
      case GraphView::Definition::Kind::kGraphInput:
        is_input = true;
        break;
      case GraphView::Definition::Kind::kInitializer:
        found.tensor = def.initializer;
        found.graph = def.graph;
        break;
      case GraphView::Definition::Kind::kNodeOutput: {
        NodeProto* node = def.node;
        if (!IsOnnxOp(*node, "Constant")) {
          return absl::FailedPreconditionError(absl::StrCat(
              "'", name, "' is computed by node '", node->name(), "' (", node->op_type(), ")"));
        }
        AttributeProto* value = FindMutableAttribute(*node, "value");
        if (value != nullptr && value->has_t()) found.tensor = value->mutable_t();
        if (found.tensor == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              "'", name, "' comes from Constant node '", node->name(), "' without a tensor value"));
        }
        found.constant_node = node;
        found.graph = def.graph;
        break;
      }
    }
  }
  if (is_input) {
    const bool initializer_in_same_graph =
        defs.size() == 2 && found.tensor != nullptr && found.constant_node == nullptr &&
        defs[0].graph == defs[1].graph;
    if (!initializer_in_same_graph) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", name, "' is a graph input without an initializer: its value is only known at run "
          "time"));
    }
    if (view.ir_version() >= kFirstIrWithOptionalInitializerInputs &&
        !options.initializer_inputs_are_constant) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", name, "' is an initializer that is also listed as a graph input, which makes it a "
          "default that can be overridden at run time (IR ", view.ir_version(),
          "; below IR 4 it would be a constant)"));
    }
    found.listed_as_input = true;
    return found;
  }
  if (defs.size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", name, "' is defined more than once (shadowed in a subgraph)"));
  }
  return found;
}

namespace {

void SetTensorType(onnx::ValueInfoProto& input, const TensorProto& tensor) {
  input.set_name(tensor.name());
  onnx::TypeProto::Tensor* type = input.mutable_type()->mutable_tensor_type();
  type->set_elem_type(tensor.data_type());
  type->clear_shape();
  onnx::TensorShapeProto* shape = type->mutable_shape();
  for (int64_t d : tensor.dims()) shape->add_dim()->set_dim_value(d);
}

}  // namespace

void RetypeInitializerInput(GraphProto& graph, absl::string_view old_name,
                            const TensorProto& tensor) {
  for (onnx::ValueInfoProto& input : *graph.mutable_input()) {
    if (input.name() == old_name) {
      SetTensorType(input, tensor);
      return;
    }
  }
}

void AddInitializerInput(GraphProto& graph, const TensorProto& tensor) {
  SetTensorType(*graph.add_input(), tensor);
}

bool RemoveGraphInput(GraphProto& graph, absl::string_view name) {
  auto* inputs = graph.mutable_input();
  for (int i = 0; i < inputs->size(); ++i) {
    if (inputs->Get(i).name() == name) {
      inputs->DeleteSubrange(i, 1);
      return true;
    }
  }
  return false;
}

NodeProto* InsertNode(GraphProto& graph, int index, NodeProto node) {
  auto* nodes = graph.mutable_node();
  *nodes->Add() = std::move(node);
  // Bubble the new element from the end down to `index`; only pointers move.
  for (int i = nodes->size() - 1; i > index; --i) nodes->SwapElements(i, i - 1);
  return nodes->Mutable(index);
}

int NodeIndex(const GraphProto& graph, const NodeProto* node) {
  for (int i = 0; i < graph.node_size(); ++i) {
    if (&graph.node(i) == node) return i;
  }
  return -1;
}

}  // namespace tflayout
