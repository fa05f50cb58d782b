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
#include "onnx/onnx_pb.h"
#include "proto/tflayout.pb.h"

namespace tflayout {

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

  void Count(const std::string& counter, int64_t n = 1) { statistics[counter] += n; }
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
inline constexpr char kDefaultPipeline[] =
    "resolve-conv-transpose-pads,materialize-conv-transpose-dilations,conv-transpose-to-tf";

}  // namespace tflayout
