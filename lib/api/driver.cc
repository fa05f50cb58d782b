#include "lib/api/driver.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tflayout/annotation.h"
#include "lib/io/in_place.h"
#include "lib/io/model_files.h"
#include "tflayout/model_io.h"
#include "tflayout/pass.h"
#include "tflayout/pass_manager.h"
#include "tflayout/plugin.h"
#include "tflayout/status.h"
#include "tflayout/register_builtin_passes.h"
#include "tflayout/targets.h"

namespace tflayout {
namespace {

struct Flags {
  std::string input;
  std::string output;
  std::string pipeline = kDefaultPipeline;
  bool pipeline_given = false;
  std::string target;  // --target=NAME: the pipeline for that consumer (tflayout/targets.h)
  std::vector<std::string> print_ir_after;
  std::vector<std::string> plugins;
  std::string report;
  std::string external_data = "auto";
  // Two: with -o, permuting overlaps with writing the output (lib/io/write_behind.h).
  int threads = 2;
  bool list_passes = false;
  bool statistics = false;
  bool timing = false;
  bool verify = true;
  bool quiet = false;
  bool help = false;
  bool version = false;
  bool in_place = false;
  bool no_stream = false;
  bool fsync = false;
  bool require_all_converted = false;
};

std::string TargetList() {
  std::vector<std::string> names;
  for (const Target& target : Targets()) names.push_back(target.name);
  return absl::StrJoin(names, "|");
}

void PrintUsage(std::ostream& os, const PassRegistry& registry) {
  os << "usage: tflayout-opt IN.onnx -o OUT.onnx [options]\n"
        "\n"
        "Rewrites constant ConvTranspose weights into TensorFlow's kernel layout and annotates\n"
        "the model (metadata_props[\"tflayout.annotation\"]). Without --passes it runs\n"
        "  " << kDefaultPipeline << "\n"
        "\n"
        "options:\n"
        "  -o, --output=FILE          output model ('-' writes to stdout)\n"
        "  --passes=PIPELINE          e.g. 'resolve-conv-transpose-pads,conv-transpose-to-tf{form=custom-op}'\n"
        "                             (an empty pipeline round-trips the model)\n"
        "  --target=CONSUMER          the pipeline for the tool that reads the output (instead\n"
        "                             of --passes): " << TargetList() << "\n"
        "  --list-passes              list the passes with their summaries and options\n"
        "  --pass-statistics          print each pass's counters\n"
        "  --pass-timing              print each pass's wall time, and the input's load and the\n"
        "                             output's write\n"
        "  --print-ir-after=NAME      print the model (ONNX text form) after pass NAME, or 'all'\n"
        "  --no-verify                skip verification after each pass\n"
        "  --load-pass-plugin=LIB.so  load passes from a plugin (repeatable; see include/tflayout/plugin.h)\n"
        "  --report=FILE              write a JSON report: passes, timing, statistics, rewrites\n"
        "  --threads=N                threads for weight permutation; with -o, N >= 2 also\n"
        "                             writes the output on a thread of its own while the next\n"
        "                             weights are permuted (default 2)\n"
        "  --external-data=auto|always|never\n"
        "                             write weights to OUT.onnx.data (auto: when the input had\n"
        "                             external data or the model would exceed 2 GiB)\n"
        "  --in-place                 rewrite IN.onnx and its data files where they are (no -o):\n"
        "                             data through memory maps, one tensor at a time, the model\n"
        "                             file by atomic replace; journaled, so a killed run is\n"
        "                             finished (or rolled back) by running it again\n"
        "  --no-stream                load every weight (external, and embedded ones of 1 MiB or\n"
        "                             more) into memory instead of streaming them tensor by\n"
        "                             tensor from the input to the output\n"
        "  --fsync                    with -o: fsync the output before it is renamed into place,\n"
        "                             so that it is complete or absent even after a power loss\n"
        "                             (always complete or absent if the process fails)\n"
        "  --require-all-converted    fail (exit 5, no output) when conv-transpose-to-tf left any\n"
        "                             ConvTranspose weight in ONNX layout\n"
        "  -q, --quiet                print nothing but errors\n"
        "  --version, -h/--help\n"
        "\n"
        "Input '-' reads the model from stdin (external data is then not allowed).\n"
        "\n"
        "exit codes: 0 ok; 1 usage error; 2 input cannot be read, parsed or validated;\n"
        "            3 a pass or the verification after it failed; 4 output cannot be written\n"
        "            (no partial output is left behind); 5 --require-all-converted and a\n"
        "            ConvTranspose weight was left alone (no output written)\n"
        "\n"
        "targets (--target=NAME):\n";
  for (const Target& target : Targets()) {
    os << "  " << target.name << "\n      " << target.summary << "\n      = " << target.pipeline
       << "\n";
  }
  os << "\npasses:\n";
  for (const std::string& name : registry.Names()) {
    auto pass = registry.Create(name);
    if (!pass.ok()) continue;
    os << "  " << name << "\n      " << (*pass)->Summary() << "\n";
    for (const PassOptionSpec& spec : (*pass)->OptionSpecs()) {
      os << "      {" << spec.name << "=" << (spec.allowed.empty() ? "VALUE" : absl::StrJoin(spec.allowed, "|"))
         << "} default " << spec.default_value << ": " << spec.help << "\n";
    }
  }
}

// Returns an error message, or "" when the flags parsed.
std::string ParseFlags(int argc, char** argv, Flags& flags) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value_of = [&](absl::string_view name, std::string* out) -> bool {
      const std::string eq = absl::StrCat(name, "=");
      if (absl::StartsWith(arg, eq)) {
        *out = arg.substr(eq.size());
        return true;
      }
      if (arg == name && i + 1 < argc) {
        *out = argv[++i];
        return true;
      }
      return false;
    };
    std::string value;
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
    } else if (arg == "--version") {
      flags.version = true;
    } else if (arg == "--list-passes") {
      flags.list_passes = true;
    } else if (arg == "--pass-statistics") {
      flags.statistics = true;
    } else if (arg == "--pass-timing") {
      flags.timing = true;
    } else if (arg == "--no-verify") {
      flags.verify = false;
    } else if (arg == "--in-place") {
      flags.in_place = true;
    } else if (arg == "--no-stream") {
      flags.no_stream = true;
    } else if (arg == "--fsync") {
      flags.fsync = true;
    } else if (arg == "--require-all-converted") {
      flags.require_all_converted = true;
    } else if (arg == "-q" || arg == "--quiet") {
      flags.quiet = true;
    } else if (value_of("-o", &flags.output) || value_of("--output", &flags.output) ||
               value_of("--external-data", &flags.external_data)) {
    } else if (value_of("--passes", &flags.pipeline)) {
      flags.pipeline_given = true;
    } else if (value_of("--target", &flags.target)) {
    } else if (value_of("--load-pass-plugin", &value)) {
      flags.plugins.push_back(value);
    } else if (value_of("--report", &flags.report)) {
    } else if (value_of("--print-ir-after", &value)) {
      flags.print_ir_after.push_back(value);
    } else if (value_of("--threads", &value)) {
      if (!absl::SimpleAtoi(value, &flags.threads) || flags.threads < 1 || flags.threads > 256) {
        return absl::StrCat("--threads wants an integer in 1..256, got '", value, "'");
      }
    } else if (arg == "-" || !absl::StartsWith(arg, "-")) {
      positional.push_back(arg);
    } else {
      return absl::StrCat("unknown option '", arg, "' (see --help)");
    }
  }
  if (flags.external_data != "auto" && flags.external_data != "always" &&
      flags.external_data != "never") {
    return "--external-data must be auto, always or never";
  }
  if (positional.size() > 1) return "more than one input model given";
  if (!flags.target.empty()) {
    if (flags.pipeline_given) return "--target and --passes exclude each other";
    absl::StatusOr<std::string> pipeline = TargetPipeline(flags.target);
    if (!pipeline.ok()) return std::string(pipeline.status().message());
    flags.pipeline = *pipeline;
  }
  if (!positional.empty()) flags.input = positional[0];
  return "";
}

absl::StatusOr<LoadedModel> ReadStdin() {
  std::string bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return ParseModel(bytes, "", "<stdin>");
}

ModelFileOptions FileOptions(const Flags& flags) {
  ModelFileOptions options;
  options.stream = !flags.no_stream && flags.output != "-";
  options.in_place = flags.in_place;
  options.embedded_in_memory = !flags.print_ir_after.empty();  // print the model as loaded
  options.external_data = flags.external_data;
  options.sync = flags.fsync;
  return options;
}

absl::Status WriteOutput(LoadedModel& loaded, const Flags& flags,
                         const ExternalDataStore* store) {
  if (flags.output == "-") {
    auto bytes = SerializeModel(loaded.model);
    if (!bytes.ok()) return bytes.status();
    std::cout.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    std::cout.flush();
    return std::cout ? absl::OkStatus() : absl::UnavailableError("<stdout>: write failed");
  }
  return SaveModelFile(loaded, store, flags.output, FileOptions(flags));
}

// What the weight-layout passes did over the pipeline, per operator: weights rewritten by any
// run; the total, those already in TF layout and those left alone as the first / last run saw
// them (a second run of a pass sees the first one's rewrites as already in TF layout).
struct ConversionCounts {
  bool ran = false;
  std::vector<WeightLayoutReport> by_op;  // in the order the operators were first reported
  WeightLayoutReport total;
};

ConversionCounts CountConversions(const PipelineResult& result) {
  ConversionCounts counts;
  for (const PassRun& run : result.passes) {
    if (!run.weight_layout) continue;
    const WeightLayoutReport& report = *run.weight_layout;
    counts.ran = true;
    auto it = std::find_if(counts.by_op.begin(), counts.by_op.end(),
                           [&](const WeightLayoutReport& r) { return r.op_type == report.op_type; });
    if (it == counts.by_op.end()) {
      counts.by_op.push_back(report);
      continue;
    }
    it->rewritten += report.rewritten;
    it->left_alone = report.left_alone;
    it->nodes += report.nodes;
    it->bytes += report.bytes;
  }
  for (const WeightLayoutReport& r : counts.by_op) {
    counts.total.weights += r.weights;
    counts.total.rewritten += r.rewritten;
    counts.total.already_tf += r.already_tf;
    counts.total.left_alone += r.left_alone;
    counts.total.nodes += r.nodes;
    counts.total.bytes += r.bytes;
  }
  return counts;
}

// "3 of 3 ConvTranspose, 20 of 21 Conv"
std::string RewrittenOfWeights(const ConversionCounts& counts) {
  std::vector<std::string> parts;
  for (const WeightLayoutReport& r : counts.by_op) {
    parts.push_back(absl::StrCat(r.rewritten, " of ", r.weights, " ", r.op_type));
  }
  return absl::StrJoin(parts, ", ");
}

void PrintSummary(const Flags& flags, const PipelineResult& result, std::ostream& os) {
  const ConversionCounts counts = CountConversions(result);
  os << "tflayout-opt: " << flags.input << " -> " << flags.output << ": ";
  if (counts.ran) {
    const WeightLayoutReport& total = counts.total;
    os << "rewrote " << RewrittenOfWeights(counts) << " weight(s) for " << total.nodes
       << " node(s), " << total.bytes << " bytes permuted";
    if (total.already_tf > 0) os << "; " << total.already_tf << " already in TF layout";
    if (total.left_alone > 0) os << "; " << total.left_alone << " left alone (see remarks)";
    if (!result.changed) os << "; model unchanged";
    os << "\n";
  } else {
    // A pipeline without a weight-layout pass (the onnx2tf target, from-tf): weights stay in
    // their layout; the pass lines below say what changed.
    os << (result.changed ? "changed" : "unchanged") << ", no weight stored in TF layout\n";
  }
  for (const PassRun& run : result.passes) {
    if (!run.changed) continue;
    os << "  " << run.name << ": changed";
    const char* separator = " (";
    for (const auto& [key, value] : run.statistics) {  // a std::map: in key order
      if (value == 0) continue;
      os << separator << key << " " << value;
      separator = ", ";
    }
    os << (separator[0] == ',' ? ")\n" : "\n");
  }
  for (const Remark& remark : result.annotation.remarks()) {
    os << "  remark [" << remark.pass() << "] node '" << remark.node() << "' tensor '"
       << remark.tensor() << "': " << remark.message() << "\n";
  }
}

// Wall time of the steps around the pipeline.
struct IoSeconds {
  double load = 0;
  double write = 0;
};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status WriteReport(const Flags& flags, const LoadedModel& loaded,
                         const PipelineResult& result, const IoSeconds& io) {
  RunReport report;
  report.set_input(flags.input);
  report.set_output(flags.output);
  report.set_load_seconds(io.load);
  report.set_write_seconds(io.write);
  for (const PassRun& run : result.passes) {
    PassReport* pass = report.add_passes();
    pass->set_name(run.name);
    pass->set_changed(run.changed);
    pass->set_seconds(run.seconds);
    for (const auto& [key, value] : run.statistics) (*pass->mutable_statistics())[key] = value;
    auto it = run.statistics.find("bytes-permuted");
    if (it != run.statistics.end()) report.set_bytes_permuted(report.bytes_permuted() + it->second);
  }
  const ConversionCounts counts = CountConversions(result);
  report.set_conv_transpose_weights(counts.total.weights);
  report.set_weights_rewritten(counts.total.rewritten);
  report.set_weights_already_tf(counts.total.already_tf);
  report.set_weights_left_alone(counts.total.left_alone);
  for (const WeightLayoutReport& r : counts.by_op) {
    WeightLayoutCounts* entry = report.add_weight_layout();
    entry->set_op_type(r.op_type);
    entry->set_weights(r.weights);
    entry->set_rewritten(r.rewritten);
    entry->set_already_tf(r.already_tf);
    entry->set_left_alone(r.left_alone);
  }
  *report.mutable_rewritten() = result.annotation.tensors();
  *report.mutable_remarks() = result.annotation.remarks();
  auto json = ToJson(report);
  if (!json.ok()) return json.status();
  return WriteFileAtomically(flags.report, *json + "\n");
}

// Progress lines for big models on a terminal: loading and permuting a multi-GB model takes
// seconds, and silence reads as a hang.
class Progress {
 public:
  Progress(const Flags& flags) {
    constexpr int64_t kShowAboveBytes = int64_t{64} << 20;
    std::error_code ec;
    const auto size = flags.input == "-" ? 0 : std::filesystem::file_size(flags.input, ec);
    enabled_ = !flags.quiet && ::isatty(STDERR_FILENO) && !ec &&
               static_cast<int64_t>(size) > kShowAboveBytes;
  }
  void Step(const std::string& what) {
    if (enabled_) std::cerr << "\r\033[K[tflayout-opt] " << what << std::flush;
  }
  void Done() {
    if (enabled_) std::cerr << "\r\033[K";
  }

 private:
  bool enabled_ = false;
};

// Loads the input; see lib/io/model_files.h for what stays on disk (in `store`).
absl::StatusOr<LoadedModel> LoadInput(const Flags& flags,
                                      std::unique_ptr<ExternalDataStore>& store) {
  if (flags.input == "-") return ReadStdin();
  return LoadModelFile(flags.input, FileOptions(flags), store);
}

// MLIR-style "===- pass timing and statistics -===" table.
// With timing, the steps around the pipeline too: on large models reading and writing are
// most of a run.
void PrintPassTable(const Flags& flags, const PipelineResult& result, const IoSeconds& io,
                    std::ostream& os) {
  os << "===- pass " << (flags.timing ? "timing" : "")
     << (flags.timing && flags.statistics ? " and " : "") << (flags.statistics ? "statistics" : "")
     << " -===\n";
  if (flags.timing) os << absl::StrFormat("  (load input)  %.6f s\n", io.load);
  for (const PassRun& run : result.passes) {
    os << "  " << run.name;
    if (flags.timing) os << absl::StrFormat("  %.6f s", run.seconds);
    os << "\n";
    if (!flags.statistics) continue;
    for (const auto& [key, value] : run.statistics) os << "    " << key << " = " << value << "\n";
  }
  if (flags.timing) os << absl::StrFormat("  (write output)  %.6f s\n", io.write);
}

}  // namespace

int OptMain(int argc, char** argv) {
  PassRegistry registry;
  if (absl::Status st = RegisterBuiltinPasses(registry); !st.ok()) {
    std::cerr << "tflayout-opt: " << st.message() << "\n";
    return kExitPass;
  }
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, flags); !error.empty()) {
    std::cerr << "tflayout-opt: " << error << "\n";
    return kExitUsage;
  }
  for (const std::string& plugin : flags.plugins) {
    if (absl::Status st = LoadPassPlugin(plugin, registry); !st.ok()) {
      std::cerr << "tflayout-opt: " << st.message() << "\n";
      return kExitUsage;
    }
  }
  if (flags.help) {
    PrintUsage(std::cout, registry);
    return kExitOk;
  }
  if (flags.version) {
    std::cout << "tflayout-opt " << ToolVersion() << "\n";
    return kExitOk;
  }
  if (flags.list_passes) {
    for (const std::string& name : registry.Names()) {
      auto pass = registry.Create(name);
      std::cout << name << "\t" << (*pass)->Summary() << "\n";
    }
    return kExitOk;
  }
  if (flags.in_place) {
    if (!flags.output.empty() || flags.input.empty() || flags.input == "-") {
      std::cerr << "tflayout-opt: --in-place takes an input model file and no -o\n";
      return kExitUsage;
    }
    flags.output = flags.input;
  }
  if (flags.input.empty() || flags.output.empty()) {
    std::cerr << "tflayout-opt: need an input model and -o OUTPUT (see --help)\n";
    return kExitUsage;
  }
  if (!flags.in_place && flags.input != "-" && flags.output != "-" &&
      CanonicalPath(flags.input) == CanonicalPath(flags.output)) {
    std::cerr << "tflayout-opt: " << flags.output
              << ": output path is the input path; write elsewhere (the input is never modified)\n";
    return kExitUsage;
  }

  auto passes = ParsePipeline(flags.pipeline, registry);
  if (!passes.ok()) {
    std::cerr << "tflayout-opt: " << passes.status().message() << "\n";
    return kExitUsage;
  }
  if (flags.require_all_converted &&
      std::none_of(passes->begin(), passes->end(),
                   [](const auto& pass) { return pass->ReportsWeightLayout(); })) {
    std::cerr << "tflayout-opt: --require-all-converted needs a weight-layout pass (such as "
                 "conv-transpose-to-tf) in the pipeline\n";
    return kExitUsage;
  }
  if (flags.input != "-" && !flags.in_place &&
      std::filesystem::exists(InPlaceJournalPath(flags.input))) {
    std::cerr << "tflayout-opt: " << flags.input << ": an interrupted --in-place run left "
              << InPlaceJournalPath(flags.input)
              << " and the model's data may be partly rewritten; run the same command with "
                 "--in-place again to finish it\n";
    return kExitInput;
  }
  Progress progress(flags);

  // External data stays on disk for --in-place and for file-to-file runs that keep it
  // external: the pipeline sees the tensors' references, the bytes move tensor by tensor.
  std::unique_ptr<InPlaceRewrite> in_place;
  if (flags.in_place) {
    auto begun = InPlaceRewrite::Begin(flags.input, absl::StrCat(flags.pipeline, "\n",
                                                                 absl::StrJoin(flags.plugins, "\n")));
    if (!begun.ok()) {
      std::cerr << "tflayout-opt: " << begun.status().message() << "\n";
      return kExitInput;
    }
    in_place = *std::move(begun);
    if (in_place->finished_interrupted_run()) {
      if (!flags.quiet) {
        std::cerr << "tflayout-opt: " << flags.input
                  << ": finished an interrupted --in-place run (nothing left to do)\n";
      }
      return kExitOk;
    }
  }
  std::unique_ptr<ExternalDataStore> store;
  progress.Step("loading " + flags.input);
  IoSeconds io;
  auto started = std::chrono::steady_clock::now();
  absl::StatusOr<LoadedModel> loaded = LoadInput(flags, store);
  io.load = SecondsSince(started);
  if (!loaded.ok()) {
    std::cerr << "tflayout-opt: " << loaded.status().message() << "\n";
    return kExitInput;
  }

  PipelineOptions options;
  options.verify_each = flags.verify;
  options.num_threads = flags.threads;
  options.weight_store = store.get();
  options.print_ir_after = flags.print_ir_after;
  options.ir_sink = [&](const std::string& pass, const std::string& text) {
    std::cerr << "// ----- IR after " << pass << " -----\n" << text;
  };
  progress.Step("running passes");
  absl::StatusOr<PipelineResult> result = RunPipeline(loaded->model, *passes, options);
  if (!result.ok()) {
    std::cerr << "tflayout-opt: " << flags.input << ": " << result.status().message() << "\n";
    return absl::IsInvalidArgument(result.status()) ? kExitInput : kExitPass;
  }
  if (flags.require_all_converted && CountConversions(*result).total.left_alone > 0) {
    progress.Done();
    const ConversionCounts counts = CountConversions(*result);
    std::vector<std::string> left;
    for (const WeightLayoutReport& r : counts.by_op) {
      if (r.left_alone > 0) left.push_back(absl::StrCat(r.left_alone, " of ", r.weights, " ", r.op_type));
    }
    std::cerr << "tflayout-opt: " << flags.input << ": --require-all-converted: "
              << absl::StrJoin(left, ", ")
              << " weight(s) left in ONNX layout; no output written\n";
    for (const Remark& remark : result->annotation.remarks()) {
      std::cerr << "  remark [" << remark.pass() << "] node '" << remark.node() << "' tensor '"
                << remark.tensor() << "': " << remark.message() << "\n";
    }
    if (!flags.report.empty()) (void)WriteReport(flags, *loaded, *result, IoSeconds{io.load, 0});
    return kExitNotAllConverted;
  }
  progress.Step("writing " + flags.output);
  absl::Status written = absl::OkStatus();
  started = std::chrono::steady_clock::now();
  if (!in_place) {
    written = WriteOutput(*loaded, flags, store.get());
  } else if (EmbeddedOnly(*loaded, store.get())) {
    // Weights all embedded: streamed like -o into a new file renamed over the input.
    ModelFileOptions replace = FileOptions(flags);
    replace.replace_input = true;
    if (result->changed) written = SaveModelFile(*loaded, store.get(), flags.input, replace);
  } else if (result->changed || in_place->resuming()) {  // an unchanged input is left alone
    written = in_place->Finish(*store, loaded->model);
  }
  io.write = SecondsSince(started);
  progress.Done();
  if (absl::Status st = written; !st.ok()) {
    std::cerr << "tflayout-opt: " << st.message() << "\n";
    return kExitOutput;
  }

  if (!flags.report.empty()) {
    if (absl::Status st = WriteReport(flags, *loaded, *result, io); !st.ok()) {
      std::cerr << "tflayout-opt: " << st.message() << "\n";
      return kExitOutput;
    }
  }
  if (!flags.quiet) PrintSummary(flags, *result, std::cerr);
  if (flags.statistics || flags.timing) PrintPassTable(flags, *result, io, std::cerr);
  return kExitOk;
}

}  // namespace tflayout
