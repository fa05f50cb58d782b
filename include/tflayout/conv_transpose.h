// ConvTranspose attribute handling shared by the passes: reading attributes with their
// defaults, resolving auto_pad / output_shape into explicit begin/end pads, and finding the
// nodes and their constant weights.
//
// Pad resolution follows the ONNX specification of ConvTranspose (opset 1 through 22 agree on
// the formula; the spec text's SAME_UPPER/SAME_LOWER wording is what ONNX Runtime implements
// today, checked by python/tests/test_resolve_pads.py):
//   total[i] = stride[i] * (in[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilation[i] + 1
//              - out[i]
//   out[i]   = output_shape[i] if given, else in[i] * stride[i] for SAME_UPPER/SAME_LOWER
//   SAME_UPPER:            begin = total / 2,           end = total - total / 2
//   otherwise (SAME_LOWER, NOTSET with output_shape):
//                          begin = total - total / 2,   end = total / 2
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

inline constexpr char kCustomDomain[] = "tflayout";
inline constexpr char kCustomOpType[] = "ConvTransposeTF";
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
bool IsCustomConvTranspose(const onnx::NodeProto& node);

// Reads a ConvTranspose's attributes for a weight of the given dims (C, M/g, k...), checking
// that the weight's rank, group divisibility and kernel_shape agree with the node.
absl::StatusOr<ConvTransposeAttrs> ReadConvTransposeAttrs(const onnx::NodeProto& node,
                                                          absl::Span<const int64_t> weight_dims);

// Fills pads_begin/pads_end from auto_pad/output_shape for the given input spatial dims and
// clears auto_pad/output_shape. Fails when a total padding would be negative.
absl::Status ResolvePads(ConvTransposeAttrs& attrs, absl::Span<const int64_t> input_spatial);

// Replaces the node's padding attributes by explicit `pads` (auto_pad and output_shape
// removed), keeping every other attribute.
void WriteExplicitPads(const ConvTransposeAttrs& attrs, onnx::NodeProto& node);

// Sets or replaces an INTS attribute.
void SetIntsAttribute(onnx::NodeProto& node, const std::string& name,
                      absl::Span<const int64_t> values);
void SetIntAttribute(onnx::NodeProto& node, const std::string& name, int64_t value);
void RemoveAttribute(onnx::NodeProto& node, const std::string& name);

// Value name -> dims (-1 for unknown) from ONNX shape inference on the model, run on a copy
// whose large weight payloads are left out (shape inference needs only their dims).
absl::flat_hash_map<std::string, std::vector<int64_t>> InferValueShapes(
    onnx::ModelProto& model);

}  // namespace tflayout
