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
#include <set>
#include <string>
#include <typeindex>
#include <typeinfo>
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

// Facts about the model that several passes need and that cost time to establish (shape
// inference over the whole model, say), computed on first request and shared until the model
// changes. An analysis is a type with `static T Compute(onnx::ModelProto& model)`:
//
//   const ValueShapes& shapes = context.analyses.Get<ValueShapes>(context.model);
//
// The pipeline drops every analysis after a pass that changed the model, except those the
// pass declared still true (Preserve<T>()); a pass that edits the model and then asks again
// calls Invalidate() in between.
class AnalysisCache {
 public:
  template <typename T>
  const T& Get(onnx::ModelProto& model) {
    std::shared_ptr<void>& slot = entries_[std::type_index(typeid(T))];
    if (slot == nullptr) slot = std::make_shared<T>(T::Compute(model));
    return *static_cast<const T*>(slot.get());
  }
  template <typename T>
  bool Has() const {
    return entries_.count(std::type_index(typeid(T))) > 0;
  }
  // Keeps T across the end of the running pass although it changed the model.
  template <typename T>
  void Preserve() {
    preserved_.insert(std::type_index(typeid(T)));
  }
  void Invalidate() { entries_.clear(); }

  // For the pipeline: after each pass, drop what it did not preserve (when it changed the
  // model) and forget the preservations.
  void EndPass(bool model_changed) {
    if (model_changed) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = preserved_.count(it->first) ? std::next(it) : entries_.erase(it);
      }
    }
    preserved_.clear();
  }

 private:
  std::map<std::type_index, std::shared_ptr<void>> entries_;
  std::set<std::type_index> preserved_;
};

// What a pass sees besides the model.
struct PassContext {
  explicit PassContext(onnx::ModelProto& m, Annotation& a) : model(m), annotation(a) {}
  onnx::ModelProto& model;
  // The pipeline's annotation, read from the model before the first pass and written back
  // after the last; passes read it to tell what was already done and append to it.
  Annotation& annotation;
  int num_threads = 1;
  // Counters of the running pass ("weights-rewritten" -> 3) besides its PassStatistic
  // members, for counters named at run time; the manager resets them per pass.
  std::map<std::string, int64_t> statistics;

  // Analyses shared between passes (see AnalysisCache).
  AnalysisCache analyses;

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

class Pass;

// A pass option declared as a member of the pass (MLIR's Option<T> is the model):
//
//   PassOption<std::string> form_{this, "form", "compensate", "what it does",
//                                 {"compensate", "custom-op"}};
//   PassOption<bool> strict_{this, "strict", false, "what it does"};
//   ... if (*form_ == "custom-op") ...
//
// OptionSpecs() lists it (for --help and the docs); SetOption parses
// "{name=value}" into it and rejects values of the wrong type or outside `allowed`.
class PassOptionBase {
 public:
  PassOptionBase(const PassOptionBase&) = delete;
  PassOptionBase& operator=(const PassOptionBase&) = delete;
  virtual ~PassOptionBase() = default;
  const PassOptionSpec& spec() const { return spec_; }
  // Sets the value from its text form; the error says what was expected.
  virtual absl::Status Parse(absl::string_view text) = 0;
  // The current value's text form.
  virtual std::string Text() const = 0;

 protected:
  PassOptionBase(Pass* owner, PassOptionSpec spec);

 private:
  PassOptionSpec spec_;
};

// Text forms of the option types PassOption supports.
std::string FormatOption(const std::string& value);
std::string FormatOption(bool value);
std::string FormatOption(int64_t value);
absl::Status ParseOption(absl::string_view text, std::string& value);
absl::Status ParseOption(absl::string_view text, bool& value);
absl::Status ParseOption(absl::string_view text, int64_t& value);

// T is std::string (optionally limited to `allowed`), bool ("true"/"false", "1"/"0") or
// int64_t.
template <typename T>
class PassOption : public PassOptionBase {
 public:
  PassOption(Pass* owner, std::string name, T default_value, std::string help,
             std::vector<std::string> allowed = {})
      : PassOptionBase(owner, {std::move(name), FormatOption(default_value), std::move(allowed),
                               std::move(help)}),
        value_(std::move(default_value)) {}
  absl::Status Parse(absl::string_view text) override { return ParseOption(text, value_); }
  std::string Text() const override { return FormatOption(value_); }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }

 private:
  T value_;
};


// A counter declared as a member of the pass (MLIR's Statistic): `++rewritten_;`,
// `bytes_ += n;`. The pipeline zeroes a pass's statistics before it runs and reports them
// (by name, in declaration order) after.
class PassStatistic {
 public:
  PassStatistic(Pass* owner, std::string name, std::string help);
  PassStatistic(const PassStatistic&) = delete;
  PassStatistic& operator=(const PassStatistic&) = delete;
  PassStatistic& operator++() { return *this += 1; }
  PassStatistic& operator+=(int64_t n) {
    value_ += n;
    return *this;
  }
  int64_t value() const { return value_; }
  void Reset() { value_ = 0; }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }

 private:
  std::string name_;
  std::string help_;
  int64_t value_ = 0;
};

class Pass {
 public:
  Pass() = default;
  // Options and statistics point back at their pass: passes are never copied.
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;
  virtual ~Pass() = default;
  // kebab-case, e.g. "my-pass".
  virtual std::string Name() const = 0;
  virtual std::string Summary() const = 0;
  // The declared options (PassOption members), in declaration order.
  virtual std::vector<PassOptionSpec> OptionSpecs() const;
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

  // Parses `value` into the option called `key`.
  absl::Status SetOption(absl::string_view key, absl::string_view value);
  // The text form of the option's current value ("" when there is no such option).
  std::string OptionText(absl::string_view key) const;

  // The declared statistics (PassStatistic members), in declaration order.
  const std::vector<PassStatistic*>& Statistics() const { return statistics_; }

 private:
  friend class PassOptionBase;
  friend class PassStatistic;
  std::vector<PassOptionBase*> options_;
  std::vector<PassStatistic*> statistics_;
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
