// Writes small generated seed models for the fuzz targets into the folder given as argv[1]:
// every weight storage (raw, typed, external "weights.bin", Constant node), 1-D/2-D/3-D,
// groups, dilations, auto_pad / output_shape, several element types, and a model nested in
// If branches. The fuzz targets resolve external data against their own folder, which has a
// 64 KiB "weights.bin", so the external seeds load there too.
#include <cstdio>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace t = tflayout::testing;

namespace {

void Write(const std::string& dir, const std::string& name, const onnx::ModelProto& model) {
  t::WriteFile(dir + "/" + name + ".onnx", model.SerializeAsString());
}

// Wraps the model's graph in `depth` levels of If(then=..., else=...) branches.
onnx::ModelProto Nest(onnx::ModelProto model, int depth) {
  for (int level = 0; level < depth; ++level) {
    onnx::GraphProto inner = model.graph();
    inner.clear_input();  // branch bodies take no inputs; X comes from the outer scope
    onnx::GraphProto outer;
    outer.set_name("outer" + std::to_string(level));
    *outer.mutable_input() = model.graph().input();
    auto* cond = outer.add_initializer();
    cond->set_name("cond" + std::to_string(level));
    cond->set_data_type(onnx::TensorProto::BOOL);
    cond->add_int32_data(1);
    onnx::NodeProto* node = outer.add_node();
    node->set_name("if" + std::to_string(level));
    node->set_op_type("If");
    node->add_input(cond->name());
    node->add_output("Y");
    // Branch outputs get their own names so that no value shadows the outer "Y".
    const std::string inner_y = "Y_l" + std::to_string(level);
    inner.mutable_output(0)->set_name(inner_y);
    for (auto& n : *inner.mutable_node()) {
      for (auto& o : *n.mutable_output()) if (o == "Y") o = inner_y;
    }
    // else: Identity(X), so that the model grows linearly with the depth.
    onnx::GraphProto other;
    other.set_name("else" + std::to_string(level));
    auto* identity = other.add_node();
    identity->set_op_type("Identity");
    identity->add_input("X");
    identity->add_output("Y_else" + std::to_string(level));
    *other.add_output() = inner.output(0);
    other.mutable_output(0)->set_name("Y_else" + std::to_string(level));
    auto* then_attr = node->add_attribute();
    then_attr->set_name("then_branch");
    then_attr->set_type(onnx::AttributeProto::GRAPH);
    *then_attr->mutable_g() = inner;
    auto* else_attr = node->add_attribute();
    else_attr->set_name("else_branch");
    else_attr->set_type(onnx::AttributeProto::GRAPH);
    *else_attr->mutable_g() = other;
    *outer.mutable_output() = model.graph().output();
    *model.mutable_graph() = outer;
  }
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 1;
  }
  const std::string dir = argv[1];
  int n = 0;
  const t::WeightStorage storages[] = {t::WeightStorage::kRaw, t::WeightStorage::kTyped,
                                       t::WeightStorage::kExternal,
                                       t::WeightStorage::kConstantNode};
  for (t::WeightStorage storage : storages) {
    for (int rank = 1; rank <= 3; ++rank) {
      t::ConvTransposeSpec spec;
      spec.spatial_rank = rank;
      spec.in_channels = 4;
      spec.out_channels = 2;
      spec.kernel.assign(rank, 2);
      spec.input_spatial.assign(rank, 3);
      spec.storage = storage;
      Write(dir, std::string("plain_") + t::StorageName(storage) + "_" + std::to_string(rank) + "d",
            t::MakeConvTransposeModel(spec, dir));
      ++n;
    }
    t::ConvTransposeSpec spec;
    spec.storage = storage;
    spec.group = 2;
    spec.strides = {2, 2};
    spec.dilations = {2, 1};
    spec.output_padding = {1, 0};
    spec.with_bias = true;
    Write(dir, std::string("group_dilate_") + t::StorageName(storage),
          t::MakeConvTransposeModel(spec, dir));
    ++n;
  }
  {
    t::ConvTransposeSpec spec;
    spec.auto_pad = "SAME_LOWER";
    spec.strides = {2, 2};
    Write(dir, "same_lower", t::MakeConvTransposeModel(spec));
    spec.auto_pad.clear();
    spec.output_shape = {11, 10};
    Write(dir, "output_shape", t::MakeConvTransposeModel(spec));
    n += 2;
  }
  for (int32_t type : {onnx::TensorProto::FLOAT16, onnx::TensorProto::DOUBLE,
                       onnx::TensorProto::INT8, onnx::TensorProto::INT64}) {
    for (bool typed : {false, true}) {
      t::ConvTransposeSpec spec;
      spec.data_type = type;
      spec.in_channels = 2;
      spec.out_channels = 2;
      spec.kernel = {2, 2};
      spec.storage = typed ? t::WeightStorage::kTyped : t::WeightStorage::kRaw;
      Write(dir, "type" + std::to_string(type) + (typed ? "_typed" : "_raw"),
            t::MakeConvTransposeModel(spec));
      ++n;
    }
  }
  {
    t::ConvTransposeSpec spec;
    spec.in_channels = 2;
    spec.out_channels = 2;
    spec.kernel = {2, 2};
    Write(dir, "nested_if_2", Nest(t::MakeConvTransposeModel(spec), 2));
    ++n;
  }
  // The remove-the-external-file seeds: the generator wrote weights.bin here; drop it so the
  // corpus folder holds models only.
  std::remove((dir + "/weights.bin").c_str());
  std::printf("wrote %d seed models to %s\n", n, dir.c_str());
  return 0;
}
