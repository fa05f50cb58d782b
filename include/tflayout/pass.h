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
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tflayout/permute.h"
#include "tflayout/tensor.h"
#include "onnx/onnx_pb.h"
#include "tflayout/tflayout.pb.h"
#include "tflayout/weight_store.h"

namespace tflayout {

// The tensors a pass reads or writes by value, declared before it runs (Pass::
// DeclareWeightAccess) so that a pipeline keeping weights on disk can bring exactly those into
// memory (WeightStore::ReadWhole). Tensors a pass only permutes need no declaration: the pass
// describes the permutation (PassContext::PermuteSlots) and the store moves the bytes.
struct WeightAccess {
  std::vector<onnx::TensorProto*> read_whole;
};

// What a weight-layout pass (one that stores an operator's constant weights in TensorFlow's
// layout) did in one run, in a shape that names no pass: distinct weights the operator's nodes
// read = rewritten + already in TF layout + left alone (each with a remark).
struct WeightLayoutReport {
  std::string op_type;  // the operator whose weights, e.g. "Conv"
  int64_t weights = 0;
  int64_t rewritten = 0;
  int64_t already_tf = 0;
  int64_t left_alone = 0;
  int64_t nodes = 0;  // nodes now reading a rewritten weight
  int64_t bytes = 0;  // bytes permuted
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

  // Set by a weight-layout pass (Pass::ReportsWeightLayout); the manager resets it per pass.
  std::optional<WeightLayoutReport> weight_layout;

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
  // kebab-case, e.g. "my-pass".
  virtual std::string Name() const = 0;
  virtual std::string Summary() const = 0;
  virtual std::vector<PassOptionSpec> OptionSpecs() const { return {}; }
  // Returns whether the model changed.
  virtual absl::StatusOr<bool> Run(PassContext& context) = 0;
  // Adds the tensors Run will read whole (see WeightAccess); called with the context Run will
  // get, right before Run, only when weights stay on disk.
  virtual absl::Status DeclareWeightAccess(const PassContext& context,
                                           WeightAccess& access) const {
    return absl::OkStatus();
  }
  // Whether Run sets PassContext::weight_layout.
  virtual bool ReportsWeightLayout() const { return false; }

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

}  // namespace tflayout
