// Reconciling the annotation with the model it sits in.
//
// Other tools rewrite models without knowing our annotation: onnxsim folds `W__tf` and its
// Transpose back into one ONNX-layout constant, onnxoptimizer renames or drops nodes, and so on.
// Their output still carries metadata_props["tflayout.annotation"], now describing tensors and
// nodes that are gone. Trusting it makes conv-transpose-from-tf fail ("'W__tf' is not defined")
// and a re-run stack new records on top of the stale ones. So the pass manager calls this
// before the first pass: every record that no longer describes the model is dropped, with a
// remark saying why.
#pragma once

#include "onnx/onnx_pb.h"
#include "tflayout/tflayout.pb.h"

namespace tflayout {

inline constexpr char kReconcileRemarkPass[] = "annotation";

// Keeps a record (tensor, node) only when all of these still hold:
//   - the graph the record names exists and holds a node with the record's name;
//   - the record's tensor is a constant (initializer or Constant output) of the recorded TF
//     dims and element type;
//   - the node reads it as the rewrite left it: directly (custom-op form), or through the
//     record's `source` value computed by a Transpose of the tensor (compensate form).
// Returns the number of records dropped; each gets a remark (not repeated on re-runs).
int ReconcileAnnotation(onnx::ModelProto& model, Annotation& annotation);

}  // namespace tflayout
