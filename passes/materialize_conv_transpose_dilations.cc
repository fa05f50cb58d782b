#include "passes/materialize_conv_transpose_dilations.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tflayout/node_util.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

// Scatters a (C*M/g, k1..kn) kernel into (C*M/g, (k1-1)*d1+1, ...), zeros elsewhere.
std::string DilateKernel(const std::string& bytes, size_t elem, int64_t channels,
                         const std::vector<int64_t>& kernel, const std::vector<int64_t>& dil,
                         const std::vector<int64_t>& dilated) {
  const size_t n = kernel.size();
  int64_t k_count = 1, d_count = 1;
  for (size_t i = 0; i < n; ++i) {
    k_count *= kernel[i];
    d_count *= dilated[i];
  }
  std::string out(static_cast<size_t>(channels * d_count) * elem, '\0');
  std::vector<int64_t> index(n, 0);
  for (int64_t k = 0; k < k_count; ++k) {
    // Row-major offset of this tap in the dilated kernel.
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) offset = offset * dilated[i] + index[i] * dil[i];
    for (int64_t c = 0; c < channels; ++c) {
      std::memcpy(out.data() + (c * d_count + offset) * elem,
                  bytes.data() + (c * k_count + k) * elem, elem);
    }
    for (size_t i = n; i-- > 0;) {  // advance the multi-index
      if (++index[i] < kernel[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

// Larger zero-inserted kernels are refused with a remark: 2^28 elements is 1 GiB of float32,
// far beyond any real kernel, and a hostile dilation must not turn into a huge allocation.
constexpr int64_t kMaxDilatedElements = int64_t{1} << 28;

class MaterializeConvTransposeDilationsPass : public Pass {
 public:
  std::string Name() const override { return "materialize-conv-transpose-dilations"; }
  std::string Summary() const override {
    return "Rewrite dilated ConvTranspose kernels into equivalent zero-inserted kernels of size "
           "(k-1)*d+1 (TensorFlow's CPU kernels reject dilation)";
  }

  // A dilated kernel is built from the weight's elements.
  absl::Status DeclareWeightAccess(const PassContext& context,
                                   WeightAccess& access) const override {
    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      for (const onnx::NodeProto& node : info->graph->node()) {
        if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || !IsDilated(node)) continue;
        if (auto constant = FindConstant(view, node.input(1)); constant.ok()) {
          access.read_whole.push_back(constant->tensor);
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Run(PassContext& context) override {
    bool changed = false;
    GraphView view(context.model);
    for (const auto& info : view.graphs()) {
      for (onnx::NodeProto& node : *info->graph->mutable_node()) {
        if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || !IsDilated(node)) continue;
        TFL_ASSIGN_OR_RETURN(bool done, Materialize(context, view, node));
        changed |= done;
      }
    }
    return changed;
  }

 private:
  static bool IsDilated(const onnx::NodeProto& node) {
    const std::vector<int64_t> dilations = IntsAttribute(node, "dilations");
    return std::any_of(dilations.begin(), dilations.end(), [](int64_t d) { return d != 1; });
  }

  absl::StatusOr<bool> Materialize(PassContext& context, GraphView& view, onnx::NodeProto& node) {
    const std::string weight = node.input(1);
    absl::StatusOr<ConstantValue> constant = FindConstant(view, weight);
    if (!constant.ok()) {
      context.AddRemark(Name(), node.name(), weight,
                        absl::StrCat("dilation kept: ", constant.status().message()));
      return false;
    }
    onnx::TensorProto& tensor = *constant->tensor;
    const std::vector<int64_t> dims(tensor.dims().begin(), tensor.dims().end());
    TFL_ASSIGN_OR_RETURN(ConvTransposeAttrs attrs, ReadConvTransposeAttrs(node, dims));
    absl::StatusOr<std::string> bytes = ReadElementBytes(tensor);
    if (!bytes.ok()) {
      if (!absl::IsUnimplemented(bytes.status())) return bytes.status();
      context.AddRemark(Name(), node.name(), weight,
                        absl::StrCat("dilation kept: ", bytes.status().message()));
      return false;
    }
    std::vector<int64_t> dilated_kernel;
    int64_t dilated_elements = dims[0] * dims[1];
    for (int i = 0; i < attrs.spatial_rank; ++i) {
      // ReadConvTransposeAttrs checked that (k-1)*d+1 does not overflow.
      dilated_kernel.push_back((attrs.kernel_shape[i] - 1) * attrs.dilations[i] + 1);
      dilated_elements = dilated_kernel.back() > kMaxDilatedElements / std::max<int64_t>(dilated_elements, 1)
                             ? kMaxDilatedElements + 1
                             : dilated_elements * dilated_kernel.back();
    }
    if (dilated_elements > kMaxDilatedElements) {
      context.AddRemark(Name(), node.name(), weight,
                        absl::StrCat("dilation kept: the zero-inserted kernel would exceed ",
                                     kMaxDilatedElements, " elements"));
      return false;
    }
    std::string dilated = DilateKernel(*bytes, RawElementSize(tensor.data_type()),
                                       dims[0] * dims[1], attrs.kernel_shape, attrs.dilations,
                                       dilated_kernel);

    onnx::TensorProto replacement;
    replacement.set_data_type(tensor.data_type());
    replacement.add_dims(dims[0]);
    replacement.add_dims(dims[1]);
    for (int64_t k : dilated_kernel) replacement.add_dims(k);
    SetRawData(replacement, std::move(dilated));

    const bool shared = view.Uses(weight).size() > 1;
    if (shared) {
      // Others still read W: give this node its own weight.
      const std::string name = view.UniqueName(absl::StrCat(weight, "__undilated"));
      replacement.set_name(name);
      onnx::GraphProto& graph = *constant->graph->graph;
      // Below IR 4 every initializer is listed as a graph input.
      if (constant->listed_as_input) AddInitializerInput(graph, replacement);
      *graph.add_initializer() = std::move(replacement);
      *node.mutable_input(1) = name;
    } else {
      replacement.set_name(tensor.name());
      tensor = std::move(replacement);
      if (constant->listed_as_input) {
        RetypeInitializerInput(*constant->graph->graph, tensor.name(), tensor);
      }
    }
    SetIntsAttribute(node, "kernel_shape", dilated_kernel);
    SetIntsAttribute(node, "dilations", std::vector<int64_t>(attrs.spatial_rank, 1));
    ++kernels_dilated_;
    return true;
  }

  // Statistics, reported in this order.
  PassStatistic kernels_dilated_{this, "kernels-dilated", "kernels zero-inserted so dilations become 1"};
};

}  // namespace

std::unique_ptr<Pass> CreateMaterializeConvTransposeDilationsPass() {
  return std::make_unique<MaterializeConvTransposeDilationsPass>();
}

}  // namespace tflayout
