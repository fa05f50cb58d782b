#include "lib/io/external_data_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tflayout/annotation.h"
#include "tflayout/conv_transpose.h"
#include "tflayout/graph_view.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {

using onnx::TensorProto;

absl::StatusOr<std::unique_ptr<ExternalDataStore>> ExternalDataStore::Create(
    onnx::ModelProto& model, const std::string& base_dir) {
  auto store = std::unique_ptr<ExternalDataStore>(new ExternalDataStore(base_dir));
  std::map<ExternalRegion::Key, std::string> names;
  TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
    if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
    TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(t, base_dir));
    const auto key = region.key();
    if (store->regions_.count(key) != 0 && region.length > 0 &&
        store->overlap_message_.empty()) {
      store->overlap_message_ = absl::StrCat("tensors '", names[key], "' and '", t.name(),
                                             "' share their external data bytes");
    }
    names.emplace(key, t.name());
    store->regions_.emplace(key, std::move(region));
    return absl::OkStatus();
  }));
  // Partial overlaps: regions of one file in offset order.
  const ExternalRegion* previous = nullptr;
  for (const auto& [key, region] : store->regions_) {
    if (region.length == 0) continue;
    if (previous != nullptr && previous->path == region.path &&
        previous->offset + previous->length > region.offset && store->overlap_message_.empty()) {
      store->overlap_message_ =
          absl::StrCat("tensors '", names[previous->key()], "' and '", names[key],
                       "' overlap in '", region.location, "'");
    }
    previous = &region;
  }
  return store;
}

std::vector<std::string> ExternalDataStore::files() const {
  std::vector<std::string> out;
  for (const auto& [key, region] : regions_) {
    if (std::find(out.begin(), out.end(), region.path) == out.end()) out.push_back(region.path);
  }
  return out;
}

namespace {

// fold-conv-transpose-weights evaluates the constants a computed ConvTranspose weight is made
// of (weight_norm's v and g): they must be in memory.
void AddConstantsBehindComputedWeight(const GraphView& view, const std::string& weight,
                                      std::vector<TensorProto*>& wanted) {
  constexpr size_t kMaxValues = 4096;
  if (FindConstant(view, weight, {true}).ok()) return;
  std::vector<std::string> pending = {weight};
  absl::flat_hash_set<std::string> seen = {weight};
  while (!pending.empty() && seen.size() < kMaxValues) {
    const std::string name = pending.back();
    pending.pop_back();
    auto constant = FindConstant(view, name, {true});
    if (constant.ok()) {
      if (constant->tensor->data_location() == TensorProto::EXTERNAL) wanted.push_back(constant->tensor);
      continue;
    }
    const auto& defs = view.Definitions(name);
    if (defs.size() != 1 || defs[0].node == nullptr) continue;
    for (const std::string& input : defs[0].node->input()) {
      if (!input.empty() && seen.insert(input).second) pending.push_back(input);
    }
  }
}

}  // namespace

absl::Status ExternalDataStore::PreloadTensorsPassesRead(onnx::ModelProto& model) {
  constexpr int64_t kTinyElements = 64;  // InferValueShapes keeps payloads up to this size
  std::vector<TensorProto*> wanted;
  TFL_RETURN_IF_ERROR(ForEachTensor(model, [&](TensorProto& t) -> absl::Status {
    if (t.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
    auto count = CheckedElementCount(t);
    if (count.ok() && *count <= kTinyElements) wanted.push_back(&t);
    return absl::OkStatus();
  }));
  // Weights the annotation records as rewritten: the compensate form's Transpose(W__tf) is
  // conv-transpose-to-tf's own work, which fold-conv-transpose-weights leaves alone, so W__tf
  // stays on disk (a second run on a converted model read it whole).
  absl::flat_hash_set<std::string> rewritten;
  if (auto annotation = ReadAnnotation(model); annotation.ok()) {
    for (const RewrittenTensor& entry : annotation->tensors()) rewritten.insert(entry.source());
  }
  GraphView view(model);
  for (const auto& info : view.graphs()) {
    for (const onnx::NodeProto& node : info->graph->node()) {
      if (!IsOnnxConvTranspose(node) || node.input_size() < 2 || node.input(1).empty()) continue;
      bool dilated = false;
      for (const onnx::AttributeProto& attr : node.attribute()) {
        if (attr.name() != "dilations") continue;
        for (int64_t d : attr.ints()) dilated |= d != 1;
      }
      if (dilated) {
        auto constant = FindConstant(view, node.input(1));
        if (constant.ok() && constant->tensor->data_location() == TensorProto::EXTERNAL) {
          wanted.push_back(constant->tensor);
        }
      }
      if (!rewritten.contains(node.input(1))) {
        AddConstantsBehindComputedWeight(view, node.input(1), wanted);
      }
    }
  }
  for (TensorProto* t : wanted) {
    if (t->data_location() != TensorProto::EXTERNAL) continue;  // listed twice
    TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(*t, base_dir_));
    TFL_RETURN_IF_ERROR(LoadExternalRegion(*t, region, IsEmbedded(region)));
  }
  return absl::OkStatus();
}

absl::StatusOr<MutableSlots> ExternalDataStore::Describe(const TensorProto& tensor) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  return MutableSlots{nullptr, region.element_size, region.count};
}

absl::Status ExternalDataStore::Schedule(const TensorProto& tensor, Transform transform) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  scheduled_[region.key()].push_back(std::move(transform));
  single_permute_[region.key()] = std::nullopt;
  return absl::OkStatus();
}

absl::Status ExternalDataStore::SchedulePermute(const TensorProto& tensor,
                                                const Permute& permute) {
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  const bool first = scheduled_.count(region.key()) == 0;
  TFL_RETURN_IF_ERROR(WeightStore::SchedulePermute(tensor, permute));
  if (first) single_permute_[region.key()] = permute;
  return absl::OkStatus();
}

std::optional<WeightStore::Permute> ExternalDataStore::SinglePermute(
    const ExternalRegion::Key& key) const {
  auto it = single_permute_.find(key);
  return it == single_permute_.end() ? std::nullopt : it->second;
}

absl::Status ExternalDataStore::ApplyScheduled(const ExternalRegion& region,
                                               const MutableSlots& slots) const {
  auto it = scheduled_.find(region.key());
  if (it == scheduled_.end()) return absl::OkStatus();
  for (const Transform& transform : it->second) TFL_RETURN_IF_ERROR(transform(slots));
  return absl::OkStatus();
}

}  // namespace tflayout
