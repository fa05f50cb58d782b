// Memory bounded by tiles, not tensors: a model whose one ConvTranspose weight is 1 GiB goes
// through the real tflayout-opt inside a memory cgroup of 256 MiB (cgroup v1), embedded and
// external, in the four file modes (-o and --in-place, embedded and external). Each run
// must succeed, and every element of the result is checked against the permutation computed
// element by element while reading the output in 4 MiB chunks (the weight holds its own index,
// so the expected value of every output position is known without a reference copy).
//
// Peak memory is measured from outside: the tool's VmHWM (getrusage of the child) and, polled
// from /proc every few milliseconds, its peak RssAnon (anonymous memory: what --in-place bounds;
// its mapped file pages would be the kernel's to write back and reclaim, but a tensor over a
// tile is not mapped) and the disk blocks of --in-place's journal. Both modes must stay
// <= 64 MiB of resident memory, and the journal <= 40 MiB on disk. --in-place is killed partway
// once, and the rerun must finish the job exactly.
//
// Skipped (with the reason) when the cgroup v1 memory controller is not writable here. The
// weight size can be lowered for a quick run with TFLAYOUT_MEMORY_TEST_CHANNELS (C = M, default
// 4096: 4096 x 4096 x 4 x 4 floats = 1 GiB).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/io/file_util.h"
#include "lib/io/in_place.h"
#include "lib/io/weights_on_disk.h"
#include "lib/io/wire_format.h"
#include "tflayout/model_io.h"
#include "tests/test_util.h"

namespace tflayout {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kCgroupLimit = 256 * kMiB;
constexpr int64_t kBound = 64 * kMiB;
constexpr char kCgroupRoot[] = "/sys/fs/cgroup/memory";

int64_t Channels() {
  const char* v = std::getenv("TFLAYOUT_MEMORY_TEST_CHANNELS");
  return v != nullptr && std::atoll(v) > 0 ? std::atoll(v) : 4096;
}

// W is (C, M, 4, 4): A = C, B = M, S = 16 in PermuteABSToSBA's terms.
struct Geometry {
  int64_t c = Channels(), m = Channels(), s = 16;
  int64_t count() const { return c * m * s; }
  int64_t bytes() const { return count() * 4; }
};

// ---- the model ------------------------------------------------------------------------------------

onnx::GraphProto GraphHead() {
  onnx::GraphProto graph;
  onnx::NodeProto* node = graph.add_node();
  node->set_name("deconv");
  node->set_op_type("ConvTranspose");
  node->add_input("X");
  node->add_input("W");
  node->add_output("Y");
  graph.set_name("one_large_weight");
  return graph;
}

onnx::GraphProto GraphTail(const Geometry& g) {
  onnx::GraphProto graph;
  auto value = [](onnx::ValueInfoProto* v, const char* name, std::vector<int64_t> dims) {
    v->set_name(name);
    auto* type = v->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) type->mutable_shape()->add_dim()->set_dim_value(d);
  };
  value(graph.add_input(), "X", {1, g.c, 1, 1});
  value(graph.add_output(), "Y", {1, g.m, 4, 4});
  return graph;
}

onnx::TensorProto WeightHead(const Geometry& g) {
  onnx::TensorProto w;
  for (int64_t d : {g.c, g.m, int64_t{4}, int64_t{4}}) w.add_dims(d);
  w.set_data_type(onnx::TensorProto::FLOAT);
  w.set_name("W");
  return w;
}

// Element i of W holds the 32-bit pattern i.
absl::Status WriteIndexPattern(int fd, int64_t count, const std::string& path) {
  std::vector<uint32_t> chunk(1 << 20);
  for (int64_t first = 0; first < count; first += static_cast<int64_t>(chunk.size())) {
    const int64_t n = std::min<int64_t>(count - first, static_cast<int64_t>(chunk.size()));
    for (int64_t i = 0; i < n; ++i) chunk[i] = static_cast<uint32_t>(first + i);
    absl::Status st = WriteAll(fd, chunk.data(), static_cast<size_t>(n) * 4, path);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

std::string ModelField(bool head) {
  onnx::ModelProto m;
  if (head) {
    m.set_ir_version(8);
  } else {
    m.add_opset_import()->set_version(13);
  }
  return m.SerializeAsString();
}

// The model with W's payload inline, written field by field in protobuf's own order (the
// payload never in memory): ir_version, graph{node, name, initializer{dims, data_type, name,
// raw_data}, input, output}, opset_import.
void WriteEmbeddedModel(const std::string& path, const Geometry& g) {
  const std::string head = GraphHead().SerializeAsString();
  const std::string tail = GraphTail(g).SerializeAsString();
  const std::string tensor = WeightHead(g).SerializeAsString();
  const int64_t tensor_size = static_cast<int64_t>(tensor.size()) + wire::FieldSize(9, g.bytes());
  const int64_t graph_size = static_cast<int64_t>(head.size() + tail.size()) +
                             wire::FieldSize(5, tensor_size);
  std::string before = ModelField(true);
  wire::PutHeader(7, static_cast<uint64_t>(graph_size), before);
  before += head;
  wire::PutHeader(5, static_cast<uint64_t>(tensor_size), before);
  before += tensor;
  wire::PutHeader(9, static_cast<uint64_t>(g.bytes()), before);
  const std::string after = tail + ModelField(false);

  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_GE(fd.get(), 0) << path;
  ASSERT_TRUE(WriteAll(fd.get(), before.data(), before.size(), path).ok());
  ASSERT_TRUE(WriteIndexPattern(fd.get(), g.count(), path).ok());
  ASSERT_TRUE(WriteAll(fd.get(), after.data(), after.size(), path).ok());
}

void WriteExternalModel(const std::string& dir, const Geometry& g) {
  const std::string data = dir + "/w.bin";
  {
    FileDescriptor fd(::open(data.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_GE(fd.get(), 0) << data;
    ASSERT_TRUE(WriteIndexPattern(fd.get(), g.count(), data).ok());
  }
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph = GraphHead();
  graph.MergeFrom(GraphTail(g));
  onnx::TensorProto& w = *graph.add_initializer();
  w = WeightHead(g);
  SetExternalDataEntries(w, "w.bin", 0, g.bytes());
  testing::WriteFile(dir + "/model.onnx", model.SerializeAsString());
}

// ---- checking the result ----------------------------------------------------------------------------

// Where the TF-layout weight's bytes are in the output (any storage), after checking its dims.
struct Payload {
  std::string path;
  int64_t offset = 0;
};

Payload FindTfWeight(const std::string& model_path, const Geometry& g) {
  absl::StatusOr<LoadedModel> loaded = LoadModelWeightsOnDisk(model_path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return {};
  bool transpose_inserted = false;
  for (const onnx::NodeProto& node : loaded->model.graph().node()) {
    transpose_inserted |= node.op_type() == "Transpose" && node.output(0) == "W";
  }
  EXPECT_TRUE(transpose_inserted) << "compensate form: Transpose(W__tf) -> W";
  for (const onnx::TensorProto& t : loaded->model.graph().initializer()) {
    if (t.name() != "W__tf") continue;
    EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
              (std::vector<int64_t>{4, 4, g.m, g.c}));
    absl::StatusOr<ExternalRef> ref = ParseExternalRef(t);
    EXPECT_TRUE(ref.ok()) << ref.status();
    if (!ref.ok()) return {};
    EXPECT_EQ(ref->length, g.bytes());
    return {(fs::path(model_path).parent_path() / ref->location).string(), ref->offset};
  }
  ADD_FAILURE() << model_path << ": no initializer W__tf";
  return {};
}

// Every element: output position j = (s * M + b) * C + a holds input index (a * M + b) * S + s.
void ExpectPermutedIndexPattern(const Payload& payload, const Geometry& g) {
  FileDescriptor fd(::open(payload.path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0) << payload.path;
  std::vector<uint32_t> chunk(1 << 20);
  int64_t mismatches = 0;
  for (int64_t first = 0; first < g.count(); first += static_cast<int64_t>(chunk.size())) {
    const int64_t n = std::min<int64_t>(g.count() - first, static_cast<int64_t>(chunk.size()));
    ASSERT_TRUE(PreadAll(fd.get(), chunk.data(), static_cast<size_t>(n) * 4,
                         payload.offset + first * 4, payload.path).ok());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = first + i;
      const int64_t a = j % g.c, b = (j / g.c) % g.m, s = j / (g.c * g.m);
      const uint32_t want = static_cast<uint32_t>((a * g.m + b) * g.s + s);
      if (chunk[i] != want && mismatches++ < 5) {
        ADD_FAILURE() << payload.path << ": element " << j << " is " << chunk[i] << ", want "
                      << want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- running inside the cgroup ------------------------------------------------------------------

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A child memory cgroup, removed when it goes.
class MemoryCgroup {
 public:
  // Empty `error`: created with the limit set.
  explicit MemoryCgroup(int64_t limit, std::string& error) {
    path_ = absl::StrCat(kCgroupRoot, "/tflayout_memory_test_", ::getpid());
    if (::access(kCgroupRoot, W_OK) != 0 || ::mkdir(path_.c_str(), 0755) != 0) {
      error = absl::StrCat("cgroup v1 memory controller not writable at ", kCgroupRoot, ": ",
                           std::strerror(errno));
      path_.clear();
      return;
    }
    const std::string bytes = std::to_string(limit);
    if (!WriteText(path_ + "/memory.limit_in_bytes", bytes)) {
      error = "cannot set memory.limit_in_bytes";
      return;
    }
    // Without swap accounting this file is absent; with it, swap must not extend the limit.
    if (fs::exists(path_ + "/memory.memsw.limit_in_bytes")) {
      WriteText(path_ + "/memory.memsw.limit_in_bytes", bytes);
    }
  }
  ~MemoryCgroup() {
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ToolRun {
  int exit_status = -1;  // wait status
  int64_t peak_rss = 0;   // VmHWM, from getrusage
  int64_t peak_anon = 0;  // RssAnon, polled
  int64_t cgroup_peak = 0;  // memory.max_usage_in_bytes (page cache included)
  int64_t journal_peak = 0;  // disk blocks of the --in-place journal files, polled
  double seconds = 0;
  std::string output;
};

int64_t StatusKiB(const std::string& status, const char* key) {
  const size_t at = status.find(key);
  return at == std::string::npos ? 0 : std::atoll(status.c_str() + at + std::strlen(key));
}

// Disk blocks held by the --in-place journal of `model` (main journal and step files).
int64_t JournalDiskBytes(const std::string& model) {
  int64_t total = 0;
  for (const char* suffix : {"", ".step0", ".step1"}) {
    struct stat st {};
    if (::stat((InPlaceJournalPath(model) + suffix).c_str(), &st) == 0) {
      total += static_cast<int64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

// `in_place_model`: the model an --in-place run rewrites, whose journal is polled; `kill_after`:
// SIGKILL the tool after that many seconds (0: never).
ToolRun RunInCgroup(const MemoryCgroup& cgroup, const std::vector<std::string>& args,
                    const std::string& in_place_model = "", double kill_after = 0) {
  ToolRun run;
  const std::string log = testing::MakeTempDir() + "/tool.log";
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!WriteText(cgroup.path() + "/cgroup.procs", std::to_string(::getpid()))) ::_exit(126);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    std::string tool = TFLAYOUT_OPT_PATH;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  const std::string status_path = absl::StrCat("/proc/", pid, "/status");
  for (;;) {
    int status = 0;
    struct rusage usage {};
    const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) {
      run.exit_status = status;
      run.peak_rss = static_cast<int64_t>(usage.ru_maxrss) * 1024;
      break;
    }
    const std::string text = ReadText(status_path);
    run.peak_anon = std::max(run.peak_anon, StatusKiB(text, "RssAnon:") * 1024);
    if (!in_place_model.empty()) {
      run.journal_peak = std::max(run.journal_peak, JournalDiskBytes(in_place_model));
    }
    if (kill_after > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                        start).count() > kill_after) {
      ::kill(pid, SIGKILL);
      kill_after = 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cgroup_peak = std::atoll(ReadText(cgroup.path() + "/memory.max_usage_in_bytes").c_str());
  WriteText(cgroup.path() + "/memory.max_usage_in_bytes", "0");  // reset for the next run
  run.output = ReadText(log);
  return run;
}

void Report(const char* mode, const ToolRun& run, int64_t model_bytes) {
  std::cout << "[memory] " << mode << ": " << run.seconds << " s, peak RSS "
            << run.peak_rss / kMiB << " MiB, peak anonymous " << run.peak_anon / kMiB
            << " MiB, cgroup peak (page cache included) " << run.cgroup_peak / kMiB
            << " MiB, journal peak on disk " << run.journal_peak / kMiB << " MiB, weight "
            << model_bytes / kMiB << " MiB" << std::endl;
  ::testing::Test::RecordProperty(absl::StrCat(mode, "_peak_rss_mib"),
                                  std::to_string(run.peak_rss / kMiB));
}

void ExpectSucceeded(const ToolRun& run, const char* mode) {
  EXPECT_TRUE(WIFEXITED(run.exit_status) && WEXITSTATUS(run.exit_status) == 0)
      << mode << ": wait status " << run.exit_status
      << (WIFSIGNALED(run.exit_status) ? absl::StrCat(" (signal ", WTERMSIG(run.exit_status), ")")
                                       : std::string())
      << "\n" << run.output;
}

TEST(MemoryBound, OneGiBWeightInA256MiBCgroupInAllFourModes) {
#ifdef TFLAYOUT_SANITIZE_BUILD
  GTEST_SKIP() << "sanitizer build: its shadow memory is not the tool's";
#endif
  std::string error;
  MemoryCgroup cgroup(kCgroupLimit, error);
  if (!error.empty()) GTEST_SKIP() << error;
  const Geometry g;
  const std::string dir = testing::MakeTempDir();

  {  // -o from embedded weights to embedded weights
    const std::string in = dir + "/embedded.onnx", out = dir + "/embedded_out.onnx";
    WriteEmbeddedModel(in, g);
    const ToolRun run = RunInCgroup(cgroup, {"-q", in, "-o", out});
    ExpectSucceeded(run, "-o embedded");
    Report("-o embedded", run, g.bytes());
    EXPECT_LE(run.peak_rss, kBound);
    if (run.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(out, g), g);
    fs::remove(out);

    // --in-place on the embedded model: streamed like -o into a file renamed over it (it used
    // to load the model whole: 2 GiB for this one, far over the cgroup's limit).
    const ToolRun in_place = RunInCgroup(cgroup, {"-q", "--in-place", in}, in);
    ExpectSucceeded(in_place, "--in-place embedded");
    Report("--in-place embedded", in_place, g.bytes());
    EXPECT_LE(in_place.peak_rss, kBound);
    if (in_place.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(in, g), g);
    fs::remove(in);
  }
  {  // -o from external data to external data, then --in-place on the same model
    WriteExternalModel(dir, g);
    const std::string in = dir + "/model.onnx", out = dir + "/external_out.onnx";
    const ToolRun run = RunInCgroup(cgroup, {"-q", in, "-o", out});
    ExpectSucceeded(run, "-o external");
    Report("-o external", run, g.bytes());
    EXPECT_LE(run.peak_rss, kBound);
    if (run.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(out, g), g);
    fs::remove(out);
    fs::remove(out + ".data");

    // --in-place, killed partway (after a third of the -o run's time), then run again: the
    // rerun continues from the journal's last step. Memory and the journal are bounded by
    // tiles: nothing is mapped, and the journal holds two steps.
    const ToolRun killed = RunInCgroup(cgroup, {"-q", "--in-place", in}, in, run.seconds / 3);
    EXPECT_TRUE(WIFSIGNALED(killed.exit_status)) << "finished before the kill";
    Report("--in-place external, killed", killed, g.bytes());
    const ToolRun in_place = RunInCgroup(cgroup, {"-q", "--in-place", in}, in);
    ExpectSucceeded(in_place, "--in-place external");
    Report("--in-place external, rerun", in_place, g.bytes());
    for (const ToolRun* r : {&killed, &in_place}) {
      EXPECT_LE(r->peak_anon, kBound);
      EXPECT_LE(r->peak_rss, kBound);
      EXPECT_LE(r->journal_peak, 40 * kMiB);  // two steps of two 8 MiB tiles, and heads
    }
    if (in_place.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(in, g), g);
    EXPECT_FALSE(fs::exists(InPlaceJournalPath(in)));

    // A second run on the converted model (compensate form: W = Transpose(W__tf)) changes
    // nothing, and must not read W__tf into memory to find that out: -o, then --in-place.
    const ToolRun again = RunInCgroup(cgroup, {"-q", in, "-o", out});
    ExpectSucceeded(again, "-o on the converted model");
    Report("-o on the converted model", again, g.bytes());
    EXPECT_LE(again.peak_rss, kBound);
    if (again.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(out, g), g);
    fs::remove(out);
    fs::remove(out + ".data");
    const ToolRun in_place_again = RunInCgroup(cgroup, {"-q", "--in-place", in}, in);
    ExpectSucceeded(in_place_again, "--in-place on the converted model");
    Report("--in-place on the converted model", in_place_again, g.bytes());
    EXPECT_LE(in_place_again.peak_rss, kBound);
    if (in_place_again.exit_status == 0) ExpectPermutedIndexPattern(FindTfWeight(in, g), g);
    fs::remove(in);
    fs::remove(dir + "/w.bin");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tflayout
