// A thin view over onnx::ModelProto: where every value is defined and used, across the main
// graph and every subgraph (If/Loop/Scan bodies), plus fresh-name generation.
//
// We work on the protobuf directly instead of onnx's "experimental" IR, which copies every
// weight in and out, needs a sorted graph and drops functions and sparse initializers.
// The view holds raw pointers into the model: rebuild it after structural edits that remove
// nodes or tensors (adding is fine; RepeatedPtrField keeps element addresses stable).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"

namespace tflayout {

// Every graph of the model, parents before children. `owner` is the node whose attribute
// holds the graph (nullptr for the main graph); `path` names it for messages and annotations
// ("" for the main graph, else "node_name/attr_name" segments joined by '/').
struct GraphInfo {
  onnx::GraphProto* graph = nullptr;
  const GraphInfo* parent = nullptr;
  onnx::NodeProto* owner = nullptr;
  int depth = 0;
  std::string path;
};

// Calls fn on every TensorProto in the model: initializers, sparse initializers, tensor
// attributes (Constant values included) in graphs and in functions. Stops at the first error.
absl::Status ForEachTensor(onnx::ModelProto& model,
                           const std::function<absl::Status(onnx::TensorProto&)>& fn);

// Fails when graphs nest deeper than max_depth (the main graph has depth 0).
absl::Status CheckGraphDepth(const onnx::ModelProto& model, int max_depth);

class GraphView {
 public:
  struct Definition {
    enum class Kind { kInitializer, kGraphInput, kNodeOutput };
    Kind kind;
    const GraphInfo* graph;
    onnx::NodeProto* node = nullptr;           // kNodeOutput
    onnx::TensorProto* initializer = nullptr;  // kInitializer
  };
  struct Use {
    const GraphInfo* graph;
    onnx::NodeProto* node;  // nullptr: the value is an output of `graph`
    int input_index = -1;
  };

  explicit GraphView(onnx::ModelProto& model);

  const std::vector<std::unique_ptr<GraphInfo>>& graphs() const { return graphs_; }

  // The definitions of a name: usually one; an initializer that is also a graph input has two.
  const std::vector<Definition>& Definitions(absl::string_view name) const;
  // Every read of a name: node inputs in any graph and graph outputs.
  const std::vector<Use>& Uses(absl::string_view name) const;

  // A name not used anywhere in the model (values, nodes) nor handed out before:
  // ScopeSafeName(base), or that + "_" + n for the smallest n that is free. Every name the
  // tool creates comes from here, so converters that turn ONNX names into TensorFlow scope
  // names (onnx-tf) accept them.
  std::string UniqueName(absl::string_view base);
  // Reserves a name so UniqueName never returns it.
  void Reserve(absl::string_view name) { taken_.insert(std::string(name)); }

  const GraphInfo* InfoFor(const onnx::GraphProto* graph) const;

  // The model's IR version: below 4 every initializer must also be a graph input.
  int64_t ir_version() const { return ir_version_; }

 private:
  void Walk(onnx::GraphProto* graph, const GraphInfo* parent, onnx::NodeProto* owner,
            std::string path);

  std::vector<std::unique_ptr<GraphInfo>> graphs_;
  absl::flat_hash_map<std::string, std::vector<Definition>> definitions_;
  absl::flat_hash_map<std::string, std::vector<Use>> uses_;
  absl::flat_hash_set<std::string> taken_;
  int64_t ir_version_ = 0;
};

// `base` made valid as a TensorFlow scope name, [A-Za-z0-9.][A-Za-z0-9_.\\/>-]*: other
// characters (torch's "onnx::ConvTranspose_304" has ':') become '_', leading characters that
// may not start a name are dropped ("/main/0/ConvTranspose" -> "main/0/ConvTranspose"), and an
// empty result is "t".
std::string ScopeSafeName(absl::string_view base);

// Initializers listed as graph inputs below IR 4 are constants by definition (the spec
// requires every initializer to be listed); from IR 4 on they are defaults a caller may
// override at run time.
inline constexpr int64_t kFirstIrWithOptionalInitializerInputs = 4;

// Where a constant value lives: an initializer, or the `value` tensor of a Constant node.
struct ConstantValue {
  onnx::TensorProto* tensor = nullptr;
  onnx::NodeProto* constant_node = nullptr;  // set for Constant nodes
  const GraphInfo* graph = nullptr;          // the graph that defines it
  // The initializer is also listed in the graph's inputs (IR < 4, or an IR >= 4 input the
  // caller chose to treat as a constant): whoever renames or reshapes it must update that
  // entry (RetypeInitializerInput / RemoveGraphInput).
  bool listed_as_input = false;
};

struct ConstantOptions {
  // Treat an IR >= 4 initializer that is also a graph input as a constant (the user promises
  // never to feed it). Below IR 4 such initializers are constants anyway.
  bool initializer_inputs_are_constant = false;
};

// Finds the constant behind `name`. Fails with a reason when the value can change at run time
// (a graph input without initializer; an IR >= 4 initializer listed as an input, unless
// `options` says otherwise) or is computed.
absl::StatusOr<ConstantValue> FindConstant(const GraphView& view, absl::string_view name,
                                           const ConstantOptions& options = {});

// The graph input entry called `old_name`, renamed to `tensor`'s name and given its element
// type and dims (the entry an IR < 4 model must keep for a rewritten initializer). No-op when
// there is no such entry.
void RetypeInitializerInput(onnx::GraphProto& graph, absl::string_view old_name,
                            const onnx::TensorProto& tensor);
// Lists `tensor` (an initializer of `graph`) as a graph input, as IR < 4 requires.
void AddInitializerInput(onnx::GraphProto& graph, const onnx::TensorProto& tensor);
// Removes the graph input entry called `name`; returns whether there was one.
bool RemoveGraphInput(onnx::GraphProto& graph, absl::string_view name);

// Inserts `node` into `graph` at position `index` (keeps a topologically sorted graph sorted
// when index is right after the last producer of the node's inputs). Returns the new node.
onnx::NodeProto* InsertNode(onnx::GraphProto& graph, int index, onnx::NodeProto node);

// Position of `node` in its graph, or -1.
int NodeIndex(const onnx::GraphProto& graph, const onnx::NodeProto* node);

}  // namespace tflayout
