// ConvTranspose attribute handling shared by the passes: reading attributes with their
// defaults, resolving auto_pad / output_shape into explicit begin/end pads, and finding the
// nodes and their constant weights.
//
// Pad resolution follows the ONNX specification of ConvTranspose (opset 1 through 22 agree on
// the formula) where ONNX Runtime does, and ONNX Runtime where they part (ONNX Runtime is what
// the project's results are checked against: python/tests/test_resolve_pads.py):
//   full[i]  = stride[i] * (in[i] - 1) + ((kernel[i] - 1) * dilation[i] + 1)
//   total[i] = full[i] + output_padding[i] - out[i]
//   out[i]   = output_shape[i] if given, else in[i] * stride[i] for SAME_UPPER/SAME_LOWER
//   total >= 0, SAME_UPPER:  begin = total / 2,           end = total - total / 2
//   total >= 0, otherwise (SAME_LOWER, NOTSET with output_shape):
//                            begin = total - total / 2,   end = total / 2
// A negative total means the requested output is larger than the full result:
//   - output_shape: the extra -total positions come after the full result (ONNX's node test
//     test_convtranspose_output_shape and ONNX Runtime agree) and hold only the bias. That is
//     exactly what output_padding means, so the extension is carried there:
//         begin = end = 0,   output_padding[i] += -total[i]
//     Resolved pads are therefore never negative; output_padding may then reach the stride.
//     (ONNX Runtime 1.17.3 computes output_shape nodes correctly only while
//     out - (full - output_padding) < stride, i.e. the new output_padding < stride; past that
//     it reads outside its column buffer. Standard ConvTranspose nodes are therefore given
//     explicit pads only when the new output_padding stays below the stride: see
//     StandardFormCanCarry.)
//   - SAME_UPPER/SAME_LOWER without output_shape (stride > (kernel-1)*dilation+1+output_padding):
//     ONNX Runtime clamps the total to 0: begin = end = 0 and the output is the full result
//     plus output_padding, not in * stride as the spec's text says (onnx.reference follows the
//     text, with Python's floor division putting an odd extra position at the beginning for
//     SAME_UPPER). We follow ONNX Runtime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "onnx/onnx_pb.h"
#include "tflayout/annotation.h"
#include "tflayout/node_util.h"

namespace tflayout {

inline constexpr char kCustomDomain[] = "tflayout";
inline constexpr char kCustomOpType[] = "ConvTransposeTF";
// conv-to-tf{form=custom-op}'s op, in the same domain: a Conv reading a TF-layout weight.
inline constexpr char kCustomConvOpType[] = "ConvTF";
inline constexpr int kCustomOpsetVersion = 1;

struct ConvTransposeAttrs {
  int spatial_rank = 0;
  std::vector<int64_t> kernel_shape;  // from the attribute, else from W
  std::vector<int64_t> strides, dilations, pads_begin, pads_end, output_padding;
  std::vector<int64_t> output_shape;  // spatial dims only; empty when not given
  int64_t group = 1;
  std::string auto_pad = "NOTSET";

  // Pads are final as written: no auto_pad other than NOTSET/VALID and no output_shape.
  bool PadsAreExplicit() const;
};

bool IsOnnxConvTranspose(const onnx::NodeProto& node);

// The model's ai.onnx opset version ("" or "ai.onnx" domain), 0 when it imports none.
int64_t DefaultDomainOpset(const onnx::ModelProto& model);
bool IsCustomConvTranspose(const onnx::NodeProto& node);
bool IsCustomConv(const onnx::NodeProto& node);

// Adds the opset import of kCustomDomain unless the model has one: ONNX requires every
// domain a node uses to be imported, and onnx-tf picks handlers by the imported domains.
void EnsureCustomOpsetImport(onnx::ModelProto& model);

// The compensate form's ONNX view of a TF-layout tensor: `name` = Transpose(`tf_name`) back to
// ONNX layout (not yet in any graph).
onnx::NodeProto MakeOnnxView(GraphView& view, const std::string& name, const std::string& tf_name,
                             int rank);
// True when `name` is such a view made by an earlier run: a Transpose of a tensor the
// annotation records as `name` in TF layout.
bool IsRecordedOnnxView(const GraphView& view, const std::string& name,
                        const Annotation& annotation);

// Reads a ConvTranspose's attributes for a weight of the given dims (C, M/g, k...), checking
// that the weight's rank, group divisibility and kernel_shape agree with the node.
absl::StatusOr<ConvTransposeAttrs> ReadConvTransposeAttrs(const onnx::NodeProto& node,
                                                          absl::Span<const int64_t> weight_dims);

// Fills pads_begin/pads_end (and, for an output_shape past the full result, output_padding)
// from auto_pad/output_shape for the given input spatial dims, by the rule above, and clears
// auto_pad/output_shape. Fails only on unknown dims and on overflow.
absl::Status ResolvePads(ConvTransposeAttrs& attrs, absl::Span<const int64_t> input_spatial);

// Whether a standard (ai.onnx) ConvTranspose can carry `resolved` (the result of ResolvePads on
// `original`) as explicit pads: false when the output_shape extension pushed an axis's
// output_padding to the stride or past it (invalid ONNX, and miscomputed by ONNX Runtime).
bool StandardFormCanCarry(const ConvTransposeAttrs& original, const ConvTransposeAttrs& resolved);

// The inverse for a node StandardFormCanCarry refuses: attributes with `output_shape` (pads
// auto-generated, output_padding below the stride) that ResolvePads turns back into
// `resolved`'s explicit pads and output_padding, for the given input spatial dims. Tries
// auto_pad NOTSET, then SAME_UPPER (the two pad splits); fails when neither reproduces them.
absl::StatusOr<ConvTransposeAttrs> OutputShapeFormOf(const ConvTransposeAttrs& resolved,
                                                     absl::Span<const int64_t> input_spatial);

// Whether some axis's output_padding reaches its stride (only output_shape can say that in a
// standard node).
bool OutputPaddingReachesStride(const ConvTransposeAttrs& attrs);

// Replaces the node's padding attributes by `output_shape` (and auto_pad, output_padding) as
// OutputShapeFormOf gave them; `pads` removed.
void WriteOutputShapeForm(const ConvTransposeAttrs& attrs, onnx::NodeProto& node);

// Replaces the node's padding attributes by explicit `pads` and `output_padding` (auto_pad and
// output_shape removed), keeping every other attribute.
void WriteExplicitPads(const ConvTransposeAttrs& attrs, onnx::NodeProto& node);

// InferValueShapes reads the values of tensors of up to this many elements (shape
// arithmetic); larger payloads are left out.
inline constexpr int64_t kShapeInferenceReadsElements = 64;

// Appends the tensors InferValueShapes reads whole (for Pass::DeclareWeightAccess).
void AppendShapeInferenceReads(onnx::ModelProto& model, std::vector<onnx::TensorProto*>& tensors);

// Value name -> dims (-1 for unknown) from ONNX shape inference on the model, run on a copy
// whose large weight payloads are left out (shape inference needs only their dims).
absl::flat_hash_map<std::string, std::vector<int64_t>> InferValueShapes(
    onnx::ModelProto& model);

// InferValueShapes as an analysis passes share (PassContext::analyses).
struct ValueShapes {
  static ValueShapes Compute(onnx::ModelProto& model) { return {InferValueShapes(model)}; }
  // The value's dims (-1 for unknown), or empty when its rank is unknown.
  std::vector<int64_t> Dims(absl::string_view name) const {
    auto it = dims.find(name);
    return it == dims.end() ? std::vector<int64_t>{} : it->second;
  }
  absl::flat_hash_map<std::string, std::vector<int64_t>> dims;
};

}  // namespace tflayout
