// The pass framework: a Pass rewrites an onnx::ModelProto and says whether it changed it; a
// PassRegistry creates passes by name; ParsePipeline turns
// "name1,name2{key=value,key2=value2}" into fresh pass instances.
//
// One fresh instance per pipeline, no global singletons: a registry is an ordinary object
// that the caller fills (RegisterBuiltinPasses, plugins) and owns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tflayout/permute.h"
#include "tflayout/tensor.h"
#include "onnx/onnx_pb.h"
#include "tflayout/tflayout.pb.h"

namespace tflayout {

// Access to tensors whose elements stay in external data files while the pipeline runs
// (tflayout-opt streaming and --in-place; see lib/io/external_data_store.h). A pass never sees their
// bytes: it asks for their geometry, then schedules a rewrite that the store runs when it
// writes or maps the data, exactly once per tensor. Passes must leave such a tensor's
// external_data entries (location, offset, length) untouched.
class WeightStore {
 public:
  using Transform = std::function<absl::Status(const MutableSlots& slots)>;
  virtual ~WeightStore() = default;
  // Validates an external tensor; returns its slots with data == nullptr. Unimplemented for
  // element types the store cannot handle (as GetMutableSlots).
  virtual absl::StatusOr<MutableSlots> Describe(const onnx::TensorProto& tensor) = 0;
  // Schedules `transform` on the tensor's elements (raw little-endian slots). Several
  // transforms of one tensor run in the order scheduled.
  virtual absl::Status Schedule(const onnx::TensorProto& tensor, Transform transform) = 0;

  // The permutation (A, B, S) -> (S, B, A) of PermuteABSToSBA, described rather than opaque so
  // that a store can move the tensor tile by tile (memory bounded by tiles, not tensors).
  struct Permute {
    int64_t a = 0, b = 0, s = 0;
    PermuteOptions options;
  };
  // Schedules `permute` like Schedule; the default runs PermuteABSToSBA on the whole tensor.
  virtual absl::Status SchedulePermute(const onnx::TensorProto& tensor, const Permute& permute) {
    return Schedule(tensor, [permute](const MutableSlots& s) {
      return PermuteABSToSBA(s.data, s.slot_size, permute.a, permute.b, permute.s,
                             permute.options);
    });
  }
};

// What a pass sees besides the model.
struct PassContext {
  explicit PassContext(onnx::ModelProto& m, Annotation& a) : model(m), annotation(a) {}
  onnx::ModelProto& model;
  // The pipeline's annotation, read from the model before the first pass and written back
  // after the last; passes read it to tell what was already done and append to it.
  Annotation& annotation;
  int num_threads = 1;
  // Counters of the running pass ("weights-rewritten" -> 3); the manager resets them per pass.
  std::map<std::string, int64_t> statistics;

  // Set by drivers that keep external tensors on disk; null: external tensors must be loaded.
  WeightStore* weight_store = nullptr;

  void Count(const std::string& counter, int64_t n = 1) { statistics[counter] += n; }

  // The slots of a tensor a pass is about to rewrite: embedded tensors give their memory;
  // external ones (with a weight_store) give data == nullptr, and RewriteSlots schedules the
  // rewrite instead of running it.
  absl::StatusOr<MutableSlots> WeightSlots(onnx::TensorProto& tensor) {
    if (weight_store != nullptr && StorageOf(tensor) == TensorStorage::kExternal) {
      return weight_store->Describe(tensor);
    }
    return GetMutableSlots(tensor);
  }
  absl::Status RewriteSlots(const onnx::TensorProto& tensor, const MutableSlots& slots,
                            WeightStore::Transform transform) {
    if (weight_store != nullptr && StorageOf(tensor) == TensorStorage::kExternal) {
      return weight_store->Schedule(tensor, std::move(transform));
    }
    return transform(slots);
  }
  // RewriteSlots for PermuteABSToSBA (A, B, S) -> (S, B, A): external tensors are permuted by
  // the store, tile by tile.
  absl::Status PermuteSlots(const onnx::TensorProto& tensor, const MutableSlots& slots,
                            const WeightStore::Permute& permute) {
    if (weight_store != nullptr && StorageOf(tensor) == TensorStorage::kExternal) {
      return weight_store->SchedulePermute(tensor, permute);
    }
    return PermuteABSToSBA(slots.data, slots.slot_size, permute.a, permute.b, permute.s,
                           permute.options);
  }
  void AddRemark(absl::string_view pass, absl::string_view node, absl::string_view tensor,
                 absl::string_view message);
};

struct PassOptionSpec {
  std::string name;
  std::string default_value;
  std::vector<std::string> allowed;  // empty: any value
  std::string help;
};

class Pass {
 public:
  virtual ~Pass() = default;
  // kebab-case, e.g. "conv-transpose-to-tf".
  virtual std::string Name() const = 0;
  virtual std::string Summary() const = 0;
  virtual std::vector<PassOptionSpec> OptionSpecs() const { return {}; }
  // Returns whether the model changed.
  virtual absl::StatusOr<bool> Run(PassContext& context) = 0;

  // Checks the key and value against OptionSpecs() and stores the value.
  absl::Status SetOption(absl::string_view key, absl::string_view value);
  // The option's value, or its default.
  std::string Option(absl::string_view key) const;

 private:
  std::map<std::string, std::string, std::less<>> options_;
};

class PassRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Pass>()>;

  // Fails when the name is taken (a plugin may not replace a built-in pass).
  absl::Status Register(Factory factory);
  absl::StatusOr<std::unique_ptr<Pass>> Create(absl::string_view name) const;
  // Names in registration order.
  std::vector<std::string> Names() const;
  bool Contains(absl::string_view name) const;

 private:
  std::vector<std::pair<std::string, Factory>> factories_;
};

// "a,b{k=v,k2=v2},c" -> three configured passes. Whitespace around tokens is ignored.
absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParsePipeline(absl::string_view text,
                                                                 const PassRegistry& registry);

// The pipeline tflayout-opt runs when --passes is not given.
// split-conv-transpose-bias is in it so that the output never converts silently wrong through
// onnx2tf (which drops 3-D ConvTranspose biases; onnxsim folds the compensate form back).
// inline-conv-transpose-functions comes first: the other passes only see ConvTranspose nodes in
// graphs, not in model-local function bodies (torch's export_modules_as_functions).
inline constexpr char kDefaultPipeline[] =
    "inline-conv-transpose-functions,fold-conv-transpose-weights,resolve-conv-transpose-pads,"
    "materialize-conv-transpose-dilations,split-conv-transpose-bias,conv-transpose-to-tf";

}  // namespace tflayout
