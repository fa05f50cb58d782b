#include "lib/io/external_data_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
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

absl::Status ExternalDataStore::ReadWhole(TensorProto& tensor) {
  if (tensor.data_location() != TensorProto::EXTERNAL) return absl::OkStatus();
  TFL_ASSIGN_OR_RETURN(ExternalRegion region, ResolveExternalRegion(tensor, base_dir_));
  TFL_RETURN_IF_ERROR(LoadExternalRegion(tensor, region, IsEmbedded(region)));
  auto it = scheduled_.find(region.key());
  if (it == scheduled_.end()) return absl::OkStatus();
  // The tensor is no longer the store's: what was scheduled for it happens now, in memory.
  TFL_ASSIGN_OR_RETURN(MutableSlots slots, GetMutableSlots(tensor));
  for (const Transform& transform : it->second) TFL_RETURN_IF_ERROR(transform(slots));
  scheduled_.erase(it);
  single_permute_.erase(region.key());
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
