#include "tflayout/conv_transpose.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/graph_view.h"
#include "tflayout/tensor.h"
#include "tflayout/status.h"
#include "onnx/shape_inference/implementation.h"

namespace tflayout {
namespace {

std::string NodeLabel(const onnx::NodeProto& node) {
  return absl::StrCat("node '", node.name(), "' (", node.op_type(), ")");
}

// Reads an INTS attribute of `expected` entries, or `fill` repeated when absent.
absl::StatusOr<std::vector<int64_t>> ReadInts(const onnx::NodeProto& node, absl::string_view name,
                                              size_t expected, int64_t fill) {
  const onnx::AttributeProto* attr = FindAttribute(node, name);
  if (attr == nullptr) return std::vector<int64_t>(expected, fill);
  std::vector<int64_t> values(attr->ints().begin(), attr->ints().end());
  if (values.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeLabel(node), ": attribute ", name, " has ", values.size(), " values, expected ",
        expected));
  }
  return values;
}

}  // namespace

bool ConvTransposeAttrs::PadsAreExplicit() const {
  return output_shape.empty() && (auto_pad == "NOTSET" || auto_pad == "VALID");
}

bool IsOnnxConvTranspose(const onnx::NodeProto& node) {
  return IsOnnxOp(node, "ConvTranspose");
}

bool IsCustomConvTranspose(const onnx::NodeProto& node) {
  return node.op_type() == kCustomOpType && node.domain() == kCustomDomain;
}

bool IsCustomConv(const onnx::NodeProto& node) {
  return node.op_type() == kCustomConvOpType && node.domain() == kCustomDomain;
}

void EnsureCustomOpsetImport(onnx::ModelProto& model) {
  for (const onnx::OperatorSetIdProto& op : model.opset_import()) {
    if (op.domain() == kCustomDomain) return;
  }
  onnx::OperatorSetIdProto* op = model.add_opset_import();
  op->set_domain(kCustomDomain);
  op->set_version(kCustomOpsetVersion);
}

onnx::NodeProto MakeOnnxView(GraphView& view, const std::string& name, const std::string& tf_name,
                             int rank) {
  onnx::NodeProto transpose;
  transpose.set_name(view.UniqueName(absl::StrCat(name, "__to_onnx")));
  transpose.set_op_type("Transpose");
  transpose.add_input(tf_name);
  transpose.add_output(name);
  SetIntsAttribute(transpose, "perm", TfToOnnxPerm(rank));
  return transpose;
}

bool IsRecordedOnnxView(const GraphView& view, const std::string& name,
                        const Annotation& annotation) {
  const auto& defs = view.Definitions(name);
  if (defs.size() != 1 || defs[0].node == nullptr || defs[0].node->op_type() != "Transpose" ||
      defs[0].node->input_size() != 1) {
    return false;
  }
  for (const RewrittenTensor& entry : annotation.tensors()) {
    if (entry.source() == name && entry.tensor() == defs[0].node->input(0)) return true;
  }
  return false;
}

absl::StatusOr<ConvTransposeAttrs> ReadConvTransposeAttrs(const onnx::NodeProto& node,
                                                          absl::Span<const int64_t> weight_dims) {
  if (weight_dims.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeLabel(node), ": weight '", node.input(1), "' has rank ", weight_dims.size(),
        "; ConvTranspose needs (C, M/group, k1, ...)"));
  }
  for (size_t i = 0; i < weight_dims.size(); ++i) {
    if (weight_dims[i] < 0 || (i >= 2 && weight_dims[i] == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), ": weight '", node.input(1), "' has dims [",
          absl::StrJoin(weight_dims, ","), "]; dims must be >= 0 and kernel dims >= 1"));
    }
  }
  ConvTransposeAttrs attrs;
  const size_t n = weight_dims.size() - 2;
  attrs.spatial_rank = static_cast<int>(n);
  if (const auto* g = FindAttribute(node, "group")) attrs.group = g->i();
  if (attrs.group < 1 || weight_dims[0] % attrs.group != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeLabel(node), ": group ", attrs.group, " does not divide the ", weight_dims[0],
        " input channels of weight '", node.input(1), "'"));
  }
  const std::vector<int64_t> weight_kernel(weight_dims.begin() + 2, weight_dims.end());
  TFL_ASSIGN_OR_RETURN(attrs.kernel_shape, ReadInts(node, "kernel_shape", n, 0));
  if (FindAttribute(node, "kernel_shape") == nullptr) attrs.kernel_shape = weight_kernel;
  if (attrs.kernel_shape != weight_kernel) {
    return absl::InvalidArgumentError(absl::StrCat(
        NodeLabel(node), ": kernel_shape [", absl::StrJoin(attrs.kernel_shape, ","),
        "] disagrees with weight '", node.input(1), "' dims [", absl::StrJoin(weight_dims, ","),
        "]"));
  }
  TFL_ASSIGN_OR_RETURN(attrs.strides, ReadInts(node, "strides", n, 1));
  TFL_ASSIGN_OR_RETURN(attrs.dilations, ReadInts(node, "dilations", n, 1));
  TFL_ASSIGN_OR_RETURN(attrs.output_padding, ReadInts(node, "output_padding", n, 0));
  TFL_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadInts(node, "pads", 2 * n, 0));
  attrs.pads_begin.assign(pads.begin(), pads.begin() + n);
  attrs.pads_end.assign(pads.begin() + n, pads.end());
  for (size_t i = 0; i < n; ++i) {
    if (attrs.pads_begin[i] < 0 || attrs.pads_end[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), ": pads [", absl::StrJoin(pads, ","), "] must be >= 0 (negative end "
          "pads, as tf2onnx writes them, are repaired by resolve-conv-transpose-pads)"));
    }
    if (attrs.strides[i] < 1 || attrs.dilations[i] < 1 || attrs.output_padding[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), ": strides and dilations must be >= 1, pads and output_padding >= 0"));
    }
    // The dilated kernel extent (k-1)*d+1 is what passes compute from these: it must fit.
    int64_t extent = 0;
    if (__builtin_mul_overflow(attrs.kernel_shape[i] - 1, attrs.dilations[i], &extent) ||
        __builtin_add_overflow(extent, 1, &extent)) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), ": weight '", node.input(1), "': dilated kernel size (k-1)*d+1 on axis ",
          i, " overflows 64 bits"));
    }
  }
  if (const auto* auto_pad = FindAttribute(node, "auto_pad")) attrs.auto_pad = auto_pad->s();
  if (attrs.auto_pad != "NOTSET" && attrs.auto_pad != "VALID" && attrs.auto_pad != "SAME_UPPER" &&
      attrs.auto_pad != "SAME_LOWER") {
    return absl::InvalidArgumentError(
        absl::StrCat(NodeLabel(node), ": unknown auto_pad '", attrs.auto_pad, "'"));
  }
  if (attrs.auto_pad == "VALID") {
    std::fill(attrs.pads_begin.begin(), attrs.pads_begin.end(), 0);
    std::fill(attrs.pads_end.begin(), attrs.pads_end.end(), 0);
  }
  if (const auto* out = FindAttribute(node, "output_shape")) {
    std::vector<int64_t> shape(out->ints().begin(), out->ints().end());
    // Exporters write either the spatial dims or the full (N, C, spatial...) shape.
    if (shape.size() == n + 2) shape.erase(shape.begin(), shape.begin() + 2);
    if (shape.size() != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), ": output_shape has ", out->ints_size(), " values for ", n,
          " spatial axes"));
    }
    attrs.output_shape = std::move(shape);
  }
  return attrs;
}

absl::Status ResolvePads(ConvTransposeAttrs& attrs, absl::Span<const int64_t> input_spatial) {
  if (attrs.PadsAreExplicit()) {
    attrs.auto_pad = "NOTSET";
    return absl::OkStatus();
  }
  const size_t n = attrs.spatial_rank;
  if (input_spatial.size() != n) {
    return absl::InvalidArgumentError("input spatial rank disagrees with the weight");
  }
  std::vector<int64_t> begin(n), end(n), output_padding = attrs.output_padding;
  for (size_t i = 0; i < n; ++i) {
    if (input_spatial[i] < 0) {
      return absl::FailedPreconditionError("the input's spatial dims are unknown");
    }
    // Hostile attributes and shapes can be anywhere in int64: every step is checked.
    int64_t out = 0, full = 0, span = 0, total = 0;
    bool overflow = false;
    if (attrs.output_shape.empty()) {
      overflow |= __builtin_mul_overflow(input_spatial[i], attrs.strides[i], &out);
    } else {
      out = attrs.output_shape[i];
    }
    overflow |= __builtin_mul_overflow(attrs.strides[i], input_spatial[i] - 1, &full);
    overflow |= __builtin_add_overflow(full, attrs.output_padding[i], &full);
    overflow |= __builtin_mul_overflow(attrs.kernel_shape[i] - 1, attrs.dilations[i], &span);
    overflow |= __builtin_add_overflow(full, span, &full);
    overflow |= __builtin_add_overflow(full, 1, &full);
    overflow |= __builtin_sub_overflow(full, out, &total);
    if (overflow) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output size on axis ", i, " overflows 64 bits (strides, dilations, kernel or "
          "input dims too large)"));
    }
    if (total < 0) {
      // See the header: output_shape past the full result extends it at the end (bias only),
      // which is output_padding; SAME_* clamps to the full result, as ONNX Runtime does.
      begin[i] = end[i] = 0;
      if (!attrs.output_shape.empty() &&
          __builtin_sub_overflow(output_padding[i], total, &output_padding[i])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output_shape ", out, " on axis ", i, " overflows 64 bits"));
      }
      continue;
    }
    if (attrs.auto_pad == "SAME_UPPER") {
      begin[i] = total / 2;
      end[i] = total - total / 2;
    } else {
      begin[i] = total - total / 2;
      end[i] = total / 2;
    }
  }
  attrs.pads_begin = std::move(begin);
  attrs.pads_end = std::move(end);
  attrs.output_padding = std::move(output_padding);
  attrs.output_shape.clear();
  attrs.auto_pad = "NOTSET";
  return absl::OkStatus();
}

bool StandardFormCanCarry(const ConvTransposeAttrs& original, const ConvTransposeAttrs& resolved) {
  for (size_t i = 0; i < resolved.output_padding.size(); ++i) {
    if (resolved.output_padding[i] != original.output_padding[i] &&
        resolved.output_padding[i] >= resolved.strides[i]) {
      return false;
    }
  }
  return true;
}

void WriteExplicitPads(const ConvTransposeAttrs& attrs, onnx::NodeProto& node) {
  RemoveAttribute(node, "auto_pad");
  RemoveAttribute(node, "output_shape");
  std::vector<int64_t> pads = attrs.pads_begin;
  pads.insert(pads.end(), attrs.pads_end.begin(), attrs.pads_end.end());
  SetIntsAttribute(node, "pads", pads);
  if (std::any_of(attrs.output_padding.begin(), attrs.output_padding.end(),
                  [](int64_t p) { return p != 0; })) {
    SetIntsAttribute(node, "output_padding", attrs.output_padding);
  }
}

int64_t DefaultDomainOpset(const onnx::ModelProto& model) {
  for (const onnx::OperatorSetIdProto& op : model.opset_import()) {
    if (IsOnnxDomain(op.domain())) return op.version();
  }
  return 0;
}

bool OutputPaddingReachesStride(const ConvTransposeAttrs& attrs) {
  for (int i = 0; i < attrs.spatial_rank; ++i) {
    if (attrs.output_padding[i] >= attrs.strides[i]) return true;
  }
  return false;
}

absl::StatusOr<ConvTransposeAttrs> OutputShapeFormOf(const ConvTransposeAttrs& resolved,
                                                     absl::Span<const int64_t> input_spatial) {
  const int n = resolved.spatial_rank;
  if (static_cast<int>(input_spatial.size()) != n ||
      std::any_of(input_spatial.begin(), input_spatial.end(), [](int64_t d) { return d < 0; })) {
    return absl::FailedPreconditionError("the input's spatial dims are unknown");
  }
  ConvTransposeAttrs form = resolved;
  form.pads_begin.assign(n, 0);
  form.pads_end.assign(n, 0);
  form.output_shape.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    // The output size of the resolved node; an axis whose output_padding reaches the stride
    // hands it to output_shape (ResolvePads grows it back from the negative total).
    int64_t out = 0, span = 0;
    bool overflow = __builtin_mul_overflow(resolved.strides[i], input_spatial[i] - 1, &out);
    overflow |= __builtin_mul_overflow(resolved.kernel_shape[i] - 1, resolved.dilations[i], &span);
    overflow |= __builtin_add_overflow(out, span + 1, &out);
    overflow |= __builtin_add_overflow(out, resolved.output_padding[i], &out);
    overflow |= __builtin_sub_overflow(out, resolved.pads_begin[i] + resolved.pads_end[i], &out);
    if (overflow) return absl::InvalidArgumentError("output size overflows 64 bits");
    form.output_shape[i] = out;
    if (resolved.output_padding[i] >= resolved.strides[i]) form.output_padding[i] = 0;
  }
  for (const char* auto_pad : {"NOTSET", "SAME_UPPER"}) {
    form.auto_pad = auto_pad;
    ConvTransposeAttrs check = form;
    TFL_RETURN_IF_ERROR(ResolvePads(check, input_spatial));
    if (check.pads_begin == resolved.pads_begin && check.pads_end == resolved.pads_end &&
        check.output_padding == resolved.output_padding) {
      return form;
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "pads [", absl::StrJoin(resolved.pads_begin, ","), ",", absl::StrJoin(resolved.pads_end, ","),
      "] with output_padding [", absl::StrJoin(resolved.output_padding, ","),
      "] have no output_shape form"));
}

void WriteOutputShapeForm(const ConvTransposeAttrs& attrs, onnx::NodeProto& node) {
  RemoveAttribute(node, "pads");
  RemoveAttribute(node, "auto_pad");
  RemoveAttribute(node, "output_padding");
  SetIntsAttribute(node, "output_shape", attrs.output_shape);
  if (attrs.auto_pad != "NOTSET") {
    onnx::AttributeProto* a = node.add_attribute();
    a->set_name("auto_pad");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(attrs.auto_pad);
  }
  if (std::any_of(attrs.output_padding.begin(), attrs.output_padding.end(),
                  [](int64_t p) { return p != 0; })) {
    SetIntsAttribute(node, "output_padding", attrs.output_padding);
  }
}

namespace {

// ONNX 1.12's ConvTranspose shape inference indexes W's shape and its attribute vectors without
// checking them against each other: a W of rank < 2 reads past a RepeatedPtrField (SEGV, found
// by fuzz_pipeline: tests/regressions/fuzz_pipeline-onnx-convtranspose-rank1-weight.onnx), and
// X and W of different ranks read past std::vectors. Before handing the (copied) model to
// InferShapes, keep a ConvTranspose only when its weight is known to have one rank r >= 3
// everywhere it is declared and nothing computes it, and pin kernel_shape to the weight's
// spatial dims, so that an X of another rank makes inference stop early. Every other
// ConvTranspose (and those in function bodies) gets an op type without a schema, which
// inference skips: its output shape stays unknown, nothing worse.
constexpr char kNoInferenceOpType[] = "ConvTranspose.tflayout_not_inferred";

struct WeightDecls {
  std::vector<int> ranks;
  std::vector<int64_t> dims;  // when a constant (or a Transpose of one) defines it
  bool has_dims = false;
  bool unsafe = false;  // computed by a node, or declared as a non-tensor
  const onnx::NodeProto* transpose = nullptr;  // defined by Transpose(constant), as we write
};

void CollectDecls(const onnx::GraphProto& graph,
                  absl::flat_hash_map<std::string, WeightDecls>& decls) {
  auto add_constant = [&](const std::string& name, const onnx::TensorProto& t) {
    WeightDecls& d = decls[name];
    d.ranks.push_back(t.dims_size());
    if (d.has_dims && !std::equal(d.dims.begin(), d.dims.end(), t.dims().begin(), t.dims().end())) {
      d.unsafe = true;
    }
    d.dims.assign(t.dims().begin(), t.dims().end());
    d.has_dims = true;
  };
  for (const onnx::TensorProto& t : graph.initializer()) add_constant(t.name(), t);
  for (const onnx::SparseTensorProto& t : graph.sparse_initializer()) {
    decls[t.values().name()].unsafe = true;
  }
  for (const auto* list : {&graph.input(), &graph.output(), &graph.value_info()}) {
    for (const onnx::ValueInfoProto& vi : *list) {
      WeightDecls& d = decls[vi.name()];
      if (!vi.has_type()) continue;
      if (!vi.type().has_tensor_type()) {
        d.unsafe = true;
      } else if (vi.type().tensor_type().has_shape()) {
        d.ranks.push_back(vi.type().tensor_type().shape().dim_size());
      }
    }
  }
  for (const onnx::NodeProto& node : graph.node()) {
    const bool onnx_domain = IsOnnxDomain(node.domain());
    const onnx::TensorProto* value = nullptr;
    if (onnx_domain && node.op_type() == "Constant") {
      const onnx::AttributeProto* attr = FindAttribute(node, "value");
      if (attr != nullptr && attr->has_t()) value = &attr->t();
    }
    for (const std::string& out : node.output()) {
      if (value != nullptr && node.output_size() == 1) {
        add_constant(out, *value);
      } else if (onnx_domain && node.op_type() == "Transpose" && node.output_size() == 1 &&
                 node.input_size() == 1 && decls[out].transpose == nullptr) {
        decls[out].transpose = &node;
      } else {
        decls[out].unsafe = true;
      }
    }
    ForEachSubgraph(node, [&](const onnx::GraphProto& g) { CollectDecls(g, decls); });
  }
}

// A Transpose of a constant (what conv-transpose-to-tf writes: W = Transpose(W__tf)) has known
// dims too; without this a second run would infer less than the first and remark differently.
void ResolveTransposedConstants(absl::flat_hash_map<std::string, WeightDecls>& decls) {
  for (auto& [name, d] : decls) {
    if (d.transpose == nullptr || d.unsafe) continue;
    auto src = decls.find(d.transpose->input(0));
    const std::vector<int64_t> perm = IntsAttribute(*d.transpose, "perm");
    bool ok = src != decls.end() && !src->second.unsafe && src->second.has_dims &&
              src->second.transpose == nullptr && perm.size() == src->second.dims.size();
    std::vector<bool> seen(perm.size(), false);
    for (size_t i = 0; ok && i < perm.size(); ++i) {
      ok = perm[i] >= 0 && perm[i] < static_cast<int64_t>(perm.size()) && !seen[perm[i]];
      if (ok) seen[perm[i]] = true;
    }
    if (!ok) {
      d.unsafe = true;
      continue;
    }
    std::vector<int64_t> dims;
    for (int64_t axis : perm) dims.push_back(src->second.dims[axis]);
    if (d.has_dims && d.dims != dims) d.unsafe = true;
    d.ranks.push_back(static_cast<int>(dims.size()));
    d.dims = std::move(dims);
    d.has_dims = true;
  }
}

void GuardConvTransposeNodes(google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes,
                             const absl::flat_hash_map<std::string, WeightDecls>* decls) {
  for (onnx::NodeProto& node : nodes) {
    ForEachSubgraph(node, [&](onnx::GraphProto& g) { GuardConvTransposeNodes(*g.mutable_node(), decls); });
    if (!IsOnnxConvTranspose(node)) continue;
    bool safe = false;
    if (decls != nullptr && node.input_size() >= 2 && !node.input(1).empty()) {
      auto it = decls->find(node.input(1));
      if (it == decls->end()) {
        safe = true;  // no shape anywhere: inference returns before indexing
      } else if (!it->second.unsafe && !it->second.ranks.empty()) {
        const std::vector<int>& ranks = it->second.ranks;
        const int rank = ranks.front();
        safe = rank >= 3 && std::all_of(ranks.begin(), ranks.end(),
                                        [&](int r) { return r == rank; });
        if (safe && FindAttribute(node, "kernel_shape") == nullptr) {
          if (!it->second.has_dims) {
            safe = false;  // dims may be symbolic: nothing to pin kernel_shape to
          } else {
            const std::vector<int64_t>& dims = it->second.dims;
            SetIntsAttribute(node, "kernel_shape",
                             std::vector<int64_t>(dims.begin() + 2, dims.end()));
          }
        }
      } else if (!it->second.unsafe) {
        safe = true;  // declared without a shape
      }
    }
    if (!safe) node.set_op_type(kNoInferenceOpType);
  }
}

void MakeConvTransposeInferenceSafe(onnx::ModelProto& copy) {
  absl::flat_hash_map<std::string, WeightDecls> decls;
  CollectDecls(copy.graph(), decls);
  ResolveTransposedConstants(decls);
  GuardConvTransposeNodes(*copy.mutable_graph()->mutable_node(), &decls);
  for (onnx::FunctionProto& f : *copy.mutable_functions()) {
    GuardConvTransposeNodes(*f.mutable_node(), nullptr);
  }
}

}  // namespace

void AppendShapeInferenceReads(onnx::ModelProto& model, std::vector<onnx::TensorProto*>& tensors) {
  (void)ForEachTensor(model, [&](onnx::TensorProto& t) -> absl::Status {
    auto count = CheckedElementCount(t);
    if (count.ok() && *count <= kShapeInferenceReadsElements) tensors.push_back(&t);
    return absl::OkStatus();
  });
}

absl::flat_hash_map<std::string, std::vector<int64_t>> InferValueShapes(onnx::ModelProto& model) {
  // Shape inference reads initializer dims, and the values of small integer tensors (shape
  // arithmetic); large payloads are swapped out around the copy so it stays cheap.
  constexpr int64_t kKeepElements = kShapeInferenceReadsElements;
  std::vector<std::pair<onnx::TensorProto*, onnx::TensorProto>> parked;
  (void)ForEachTensor(model, [&](onnx::TensorProto& t) -> absl::Status {
    int64_t count = 1;  // saturates past kKeepElements: hostile dims must not overflow it
    for (int64_t d : t.dims()) {
      if (d <= 0) {
        count = 0;
        break;
      }
      if (count <= kKeepElements) count = d > kKeepElements ? kKeepElements + 1 : count * d;
    }
    if (count <= kKeepElements) return absl::OkStatus();
    onnx::TensorProto payload;
    payload.mutable_raw_data()->swap(*t.mutable_raw_data());
    payload.mutable_float_data()->Swap(t.mutable_float_data());
    payload.mutable_int32_data()->Swap(t.mutable_int32_data());
    payload.mutable_int64_data()->Swap(t.mutable_int64_data());
    payload.mutable_double_data()->Swap(t.mutable_double_data());
    payload.mutable_uint64_data()->Swap(t.mutable_uint64_data());
    parked.emplace_back(&t, std::move(payload));
    return absl::OkStatus();
  });
  onnx::ModelProto copy = model;
  for (auto& [t, payload] : parked) {
    t->mutable_raw_data()->swap(*payload.mutable_raw_data());
    t->mutable_float_data()->Swap(payload.mutable_float_data());
    t->mutable_int32_data()->Swap(payload.mutable_int32_data());
    t->mutable_int64_data()->Swap(payload.mutable_int64_data());
    t->mutable_double_data()->Swap(payload.mutable_double_data());
    t->mutable_uint64_data()->Swap(payload.mutable_uint64_data());
  }

  MakeConvTransposeInferenceSafe(copy);
  // Before IR 4, ONNX inference ignores initializers that are not also graph inputs; such
  // models (invalid for their IR, but common) lost every weight-derived shape, and a rewritten
  // weight (now Transpose(initializer)) lost its shape on a second run.
  if (copy.ir_version() < 4) copy.set_ir_version(4);

  absl::flat_hash_map<std::string, std::vector<int64_t>> shapes;
  try {
    onnx::ShapeInferenceOptions options;
    options.check_type = false;
    options.error_mode = 0;  // keep going past nodes it cannot infer
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception&) {
    // Whatever was inferred before the failure is still in `copy`.
  }
  std::function<void(const onnx::GraphProto&)> collect = [&](const onnx::GraphProto& g) {
    auto add = [&](const onnx::ValueInfoProto& vi) {
      if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) return;
      std::vector<int64_t> dims;
      for (const auto& d : vi.type().tensor_type().shape().dim()) {
        dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      }
      shapes[vi.name()] = std::move(dims);
    };
    for (const auto& t : g.initializer()) {
      shapes[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
    }
    for (const auto& vi : g.input()) add(vi);
    for (const auto& vi : g.value_info()) add(vi);
    for (const auto& vi : g.output()) add(vi);
    for (const auto& node : g.node()) ForEachSubgraph(node, collect);
  };
  collect(copy.graph());
  return shapes;
}

}  // namespace tflayout
