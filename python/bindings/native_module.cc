// tflayout._native: the Python binding of the C++ library. The Python-facing API (accepting
// onnx.ModelProto, bytes or a path, raising tflayout.Error) lives in python/tflayout/api.py;
// this module only moves bytes, with the GIL released while passes run.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "tflayout/annotation.h"
#include "tflayout/c_api.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
#include "tflayout/pass_manager.h"
#include "tflayout/register_builtin_passes.h"
#include "tflayout/targets.h"

namespace py = pybind11;

namespace {

// Returns (status, payload): payload is the serialized model when status == 0, else the error.
py::tuple RunBytes(py::bytes model, std::optional<std::string> pipeline, std::string base_dir) {
  std::string input = model;  // a copy: the GIL is released below
  void* out = nullptr;
  size_t size = 0;
  char* error = nullptr;
  tflayout_status status;
  {
    py::gil_scoped_release release;
    status = tflayout_run_bytes(input.data(), input.size(),
                                pipeline ? pipeline->c_str() : nullptr,
                                base_dir.empty() ? nullptr : base_dir.c_str(), &out, &size, &error);
  }
  if (status != TFLAYOUT_OK) {
    std::string message = error ? error : "unknown error";
    tflayout_free(error);
    return py::make_tuple(static_cast<int>(status), py::bytes(message));
  }
  py::bytes result(static_cast<const char*>(out), size);
  tflayout_free(out);
  return py::make_tuple(0, result);
}

py::list ListPasses() {
  tflayout::PassRegistry registry;
  (void)tflayout::RegisterBuiltinPasses(registry);
  py::list passes;
  for (const std::string& name : registry.Names()) {
    auto pass = registry.Create(name);
    passes.append(py::make_tuple(name, (*pass)->Summary()));
  }
  return passes;
}

py::dict TargetPipelines() {
  py::dict targets;
  for (const tflayout::Target& target : tflayout::Targets()) targets[target.name] = target.pipeline;
  return targets;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "tflayout C++ library binding (use tflayout.run)";
  m.def("run_bytes", &RunBytes, py::arg("model"), py::arg("pipeline") = std::nullopt,
        py::arg("base_dir") = "");
  m.def("list_passes", &ListPasses);
  m.def("target_pipelines", &TargetPipelines);
  m.attr("DEFAULT_PIPELINE") = tflayout::kDefaultPipeline;
  m.attr("__version__") = tflayout::ToolVersion();
}
