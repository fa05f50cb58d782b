#include "tflayout/pass_manager.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tflayout/annotation.h"
#include "tflayout/status.h"
#include "lib/ir/annotation_reconcile.h"
#include "lib/ir/verify.h"
#include "onnx/defs/printer.h"

namespace tflayout {

std::string PrintModelText(const onnx::ModelProto& model) {
  std::ostringstream os;
  os << "<ir_version: " << model.ir_version() << ", opset_import: [";
  for (int i = 0; i < model.opset_import_size(); ++i) {
    const auto& op = model.opset_import(i);
    os << (i ? ", " : "") << '"' << op.domain() << "\" : " << op.version();
  }
  os << "]>\n" << model.graph() << "\n";
  return os.str();
}

namespace {

// Brings the external tensors `pass` declares it reads whole into memory.
absl::Status ReadDeclaredWeights(const Pass& pass, const PassContext& context,
                                 WeightStore& store) {
  WeightAccess access;
  TFL_RETURN_IF_ERROR(pass.DeclareWeightAccess(context, access));
  for (onnx::TensorProto* tensor : access.read_whole) {
    TFL_RETURN_IF_ERROR(WithContext(store.ReadWhole(*tensor),
                                    absl::StrCat("tensor '", tensor->name(), "'")));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PipelineResult> RunPipeline(onnx::ModelProto& model,
                                           std::vector<std::unique_ptr<Pass>>& passes,
                                           const PipelineOptions& options) {
  PipelineResult result;
  TFL_ASSIGN_OR_RETURN(result.annotation, ReadAnnotation(model));
  const std::string annotation_before = result.annotation.SerializeAsString();
  // Other tools (onnxsim, optimizers) may have changed the model under the annotation.
  ReconcileAnnotation(model, result.annotation);

  bool demand_checker = false;
  if (options.verify_each) {
    TFL_RETURN_IF_ERROR(WithContext(CheckStructure(model), "input model is malformed"));
    demand_checker = RunOnnxChecker(model).ok();
  }

  PassContext context(model, result.annotation);
  context.num_threads = options.num_threads;
  context.weight_store = options.weight_store;
  for (std::unique_ptr<Pass>& pass : passes) {
    context.statistics.clear();
    context.weight_layout.reset();
    for (PassStatistic* statistic : pass->Statistics()) statistic->Reset();
    if (options.weight_store != nullptr) {
      TFL_RETURN_IF_ERROR(WithContext(ReadDeclaredWeights(*pass, context, *options.weight_store),
                                      absl::StrCat("pass ", pass->Name())));
    }
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<bool> changed = pass->Run(context);
    const auto stop = std::chrono::steady_clock::now();
    if (!changed.ok()) return WithContext(changed.status(), absl::StrCat("pass ", pass->Name()));
    context.analyses.EndPass(*changed);

    PassRun run;
    run.name = pass->Name();
    run.changed = *changed;
    run.seconds = std::chrono::duration<double>(stop - start).count();
    run.statistics = context.statistics;
    for (const PassStatistic* statistic : pass->Statistics()) {
      run.statistics[statistic->name()] += statistic->value();
    }
    run.weight_layout = context.weight_layout;
    result.changed |= run.changed;
    result.passes.push_back(std::move(run));

    if (options.verify_each && *changed) {
      absl::Status st = CheckStructure(model);
      if (st.ok() && demand_checker) st = RunOnnxChecker(model);
      if (!st.ok()) {
        return absl::InternalError(absl::StrCat("verification failed after pass ", pass->Name(),
                                                ": ", st.message()));
      }
    }
    const auto& wanted = options.print_ir_after;
    if (options.ir_sink &&
        (std::find(wanted.begin(), wanted.end(), pass->Name()) != wanted.end() ||
         std::find(wanted.begin(), wanted.end(), "all") != wanted.end())) {
      options.ir_sink(pass->Name(), PrintModelText(model));
    }
  }

  if (result.annotation.SerializeAsString() != annotation_before) {
    TFL_RETURN_IF_ERROR(WriteAnnotation(result.annotation, model));
    result.changed = true;
  }
  return result;
}

}  // namespace tflayout
