#include "lib/ir/annotation_reconcile.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/node_util.h"

namespace tflayout {
namespace {

const onnx::NodeProto* FindNode(const GraphView& view, const std::string& graph_path,
                                const std::string& node_name) {
  for (const auto& info : view.graphs()) {
    if (info->path != graph_path) continue;
    for (const onnx::NodeProto& node : info->graph->node()) {
      if (node.name() == node_name) return &node;
    }
  }
  return nullptr;
}

// True when `value` is computed by a Transpose reading `tf_tensor` (the compensate form's view).
bool IsTransposeOf(const GraphView& view, const std::string& value, const std::string& tf_tensor) {
  const auto& defs = view.Definitions(value);
  return defs.size() == 1 && defs[0].node != nullptr && defs[0].node->op_type() == "Transpose" &&
         defs[0].node->input_size() >= 1 && defs[0].node->input(0) == tf_tensor;
}

// Why the record no longer describes the model, or "" when it still does.
std::string StaleReason(const GraphView& view, const RewrittenTensor& entry) {
  const onnx::NodeProto* node = FindNode(view, entry.graph(), entry.node());
  if (node == nullptr) {
    return absl::StrCat("node '", entry.node(), "' is no longer in the model");
  }
  // A weight computed from a stored constant (entry.chain()) is checked through that constant.
  const std::string& stored = entry.stored().empty() ? entry.tensor() : entry.stored();
  absl::StatusOr<ConstantValue> constant = FindConstant(view, stored);
  if (!constant.ok()) {
    return absl::StrCat("tensor '", stored, "' is no longer a constant in the model (",
                        constant.status().message(), ")");
  }
  const onnx::TensorProto& tensor = *constant->tensor;
  if (!std::equal(tensor.dims().begin(), tensor.dims().end(), entry.tf_dims().begin(),
                  entry.tf_dims().end())) {
    return absl::StrCat("tensor '", entry.tensor(), "' has dims [",
                        absl::StrJoin(tensor.dims(), ","), "], not the recorded TF dims [",
                        absl::StrJoin(entry.tf_dims(), ","), "]");
  }
  if (entry.data_type() != 0 && tensor.data_type() != entry.data_type()) {
    return absl::StrCat("tensor '", entry.tensor(), "' has element type ", tensor.data_type(),
                        ", not the recorded ", entry.data_type());
  }
  const std::string weight = node->input_size() >= 2 ? node->input(1) : "";
  const bool onnx_reader = entry.op_type().empty() || entry.op_type() == "ConvTranspose"
                               ? IsOnnxConvTranspose(*node)
                               : IsOnnxOp(*node, entry.op_type());
  // The custom-op forms (ConvTransposeTF; ConvTF for a Conv entry), and the standard form (a
  // standard node reading the TF-layout tensor with adjusted attributes, as Gemm's transB=0).
  const bool custom_reader = entry.op_type() == "Conv" ? IsCustomConv(*node)
                                                       : IsCustomConvTranspose(*node);
  const bool reads_directly =
      (custom_reader || (entry.form() == kFormStandard && onnx_reader)) && weight == entry.tensor();
  const bool reads_through_transpose = onnx_reader && weight == entry.source() &&
                                       IsTransposeOf(view, weight, entry.tensor());
  if (!reads_directly && !reads_through_transpose) {
    return absl::StrCat("node '", entry.node(), "' no longer reads tensor '", entry.tensor(),
                        "' as the rewrite left it (weight input is '", weight, "')");
  }
  return "";
}

void AddRemarkOnce(Annotation& annotation, const RewrittenTensor& entry,
                   const std::string& message) {
  for (const Remark& r : annotation.remarks()) {
    if (r.pass() == kReconcileRemarkPass && r.node() == entry.node() &&
        r.tensor() == entry.tensor() && r.message() == message) {
      return;
    }
  }
  Remark* remark = annotation.add_remarks();
  remark->set_pass(kReconcileRemarkPass);
  remark->set_node(entry.node());
  remark->set_tensor(entry.tensor());
  remark->set_message(message);
}

}  // namespace

int ReconcileAnnotation(onnx::ModelProto& model, Annotation& annotation) {
  if (annotation.tensors_size() == 0) return 0;
  GraphView view(model);
  std::vector<std::string> reasons;
  for (const RewrittenTensor& entry : annotation.tensors()) reasons.push_back(StaleReason(view, entry));

  auto* entries = annotation.mutable_tensors();
  int dropped = 0;
  for (int i = entries->size() - 1; i >= 0; --i) {
    if (reasons[i].empty()) continue;
    AddRemarkOnce(annotation, entries->Get(i),
                  absl::StrCat("annotation record dropped: ", reasons[i],
                               " (the model was changed by another tool)"));
    entries->DeleteSubrange(i, 1);
    ++dropped;
  }
  return dropped;
}

}  // namespace tflayout
