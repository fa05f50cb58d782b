#include "lib/io/inline_plan.h"

#include <memory>

#include "google/protobuf/message.h"
#include "lib/io/wire_format.h"
#include "tflayout/status.h"
#include "tflayout/tensor.h"

namespace tflayout {
namespace {

using onnx::TensorProto;

// Bytes of `message`'s serialization that come before a field numbered `number` would: its
// known fields numbered below `number`, since protobuf writes known fields in field-number
// order and unknown ones (which can carry any number) after all of them.
size_t BytesBeforeField(const google::protobuf::Message& message, uint32_t number) {
  std::unique_ptr<google::protobuf::Message> prefix(message.New());
  prefix->CopyFrom(message);
  const google::protobuf::Reflection* reflection = prefix->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*prefix, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (static_cast<uint32_t>(field->number()) >= number) reflection->ClearField(prefix.get(), field);
  }
  reflection->MutableUnknownFields(prefix.get())->Clear();
  return prefix->ByteSizeLong();
}

}  // namespace

absl::StatusOr<InlinePlan> PlanInline(onnx::ModelProto& model, const ExternalDataStore& store) {
  constexpr uint32_t kGraph = 7, kInitializer = 5, kRawData = 9;
  // The model without its graph, the graph without its initializers, and where those go.
  std::string model_rest, graph_rest;
  size_t graph_at = 0, inits_at = 0;
  {
    std::unique_ptr<onnx::GraphProto> graph(model.release_graph());
    model_rest = model.SerializeAsString();
    graph_at = BytesBeforeField(model, kGraph);
    google::protobuf::RepeatedPtrField<TensorProto> inits;
    inits.Swap(graph->mutable_initializer());
    graph_rest = graph->SerializeAsString();
    inits_at = BytesBeforeField(*graph, kInitializer);
    inits.Swap(graph->mutable_initializer());
    model.set_allocated_graph(graph.release());
  }
  // Each initializer: serialized without payload, plus where its raw_data goes.
  struct Init {
    std::string bytes;
    size_t raw_at = 0;
    std::optional<ExternalRegion> region;
    int64_t size() const {
      const int64_t payload = region ? region->length : 0;
      return static_cast<int64_t>(bytes.size()) + (region ? wire::FieldSize(kRawData, payload) : 0);
    }
  };
  std::vector<Init> inits;
  int64_t graph_size = static_cast<int64_t>(graph_rest.size());
  for (const TensorProto& t : model.graph().initializer()) {
    Init init;
    if (t.data_location() == TensorProto::EXTERNAL) {
      TFL_ASSIGN_OR_RETURN(init.region, store.RegionOf(t));
      // As the tensor is after a full load: no typed fields, raw_data in place of the
      // external entries (an external tensor may carry an empty raw_data; not written twice).
      TensorProto bare = t;
      bare.clear_external_data();
      SetLoadedLocation(bare, store.IsEmbedded(*init.region));
      SetRawData(bare, std::string());
      bare.clear_raw_data();
      init.bytes = bare.SerializeAsString();
      init.raw_at = BytesBeforeField(bare, kRawData);
    } else {
      init.bytes = t.SerializeAsString();
    }
    graph_size += wire::FieldSize(kInitializer, init.size());
    inits.push_back(std::move(init));
  }

  InlinePlan plan;
  plan.pieces.emplace_back();
  auto text = [&]() -> std::string& { return plan.pieces.back().bytes; };
  if (!model.has_graph()) graph_at = model_rest.size();
  text().append(model_rest, 0, graph_at);
  if (model.has_graph()) {
    wire::PutHeader(kGraph, static_cast<uint64_t>(graph_size), text());
    text().append(graph_rest, 0, inits_at);
    for (Init& init : inits) {
      wire::PutHeader(kInitializer, static_cast<uint64_t>(init.size()), text());
      if (!init.region) {
        text() += init.bytes;
        continue;
      }
      text().append(init.bytes, 0, init.raw_at);
      wire::PutHeader(kRawData, static_cast<uint64_t>(init.region->length), text());
      plan.pieces.back().region = std::move(init.region);
      plan.pieces.emplace_back();
      text().append(init.bytes, init.raw_at, std::string::npos);
    }
    text().append(graph_rest, inits_at, std::string::npos);
  }
  text().append(model_rest, graph_at, std::string::npos);
  for (const InlinePiece& piece : plan.pieces) {
    plan.size += static_cast<int64_t>(piece.bytes.size());
    if (piece.region) plan.size += piece.region->length;
  }
  return plan;
}

}  // namespace tflayout
