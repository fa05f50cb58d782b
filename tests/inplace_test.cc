// The whole-model path through the real tflayout-opt binary: external data streamed tensor by
// tensor to -o output (byte for byte what a full load writes), --in-place through memory maps
// with a journal, and kills at every step of the journal protocol (and at random moments),
// after which running the same command again must give exactly the uninterrupted result.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tflayout/targets.h"
#include "tflayout/annotation.h"
#include "lib/api/driver.h"
#include "lib/io/in_place.h"
#include "tflayout/graph_view.h"
#include "tflayout/model_io.h"
#include "tflayout/tensor.h"
#include "tests/test_util.h"

extern char** environ;

namespace tflayout {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::RunOpt;

// ---- models -----------------------------------------------------------------------------------

void AddInts(onnx::NodeProto& node, const char* name, const std::vector<int64_t>& values) {
  auto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

onnx::TensorProto FloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                              float seed) {
  return testing::RawFloatTensor(name, dims, seed, 0.001f);
}

// X(1,C,5,5) -> `layers` ConvTranspose (k=3, pads 1, with bias), one of them grouped and one
// dilated -> Add(untouched constant) -> Y. All weights raw.
onnx::ModelProto MakeChain(int layers, int64_t channels, int64_t kernel = 3) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("chain");
  auto value = [&](onnx::ValueInfoProto* vi, const std::string& name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {int64_t{1}, channels, int64_t{5}, int64_t{5}}) {
      tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
  };
  value(g.add_input(), "X");
  std::string x = "X";
  for (int i = 0; i < layers; ++i) {
    const bool grouped = i == 1, dilated = i == 2 && kernel == 3;
    const int64_t group = grouped ? 2 : 1;
    const std::string w = "W" + std::to_string(i), b = "B" + std::to_string(i);
    *g.add_initializer() =
        FloatTensor(w, {channels, channels / group, kernel, kernel}, static_cast<float>(i));
    *g.add_initializer() = FloatTensor(b, {channels}, static_cast<float>(100 + i));
    onnx::NodeProto& node = *g.add_node();
    node.set_name("ct" + std::to_string(i));
    node.set_op_type("ConvTranspose");
    node.add_input(x);
    node.add_input(w);
    node.add_input(b);
    x = "Y" + std::to_string(i);
    node.add_output(x);
    // Pads that keep 5 x 5: k - 1 in all (2 * 2 for the dilated 3 x 3, i.e. 5 x 5).
    const int64_t begin = dilated ? 2 : (kernel - 1) / 2, end = dilated ? 2 : kernel - 1 - begin;
    AddInts(node, "pads", {begin, begin, end, end});
    if (dilated) AddInts(node, "dilations", {2, 2});
    if (grouped) {
      auto* attr = node.add_attribute();
      attr->set_name("group");
      attr->set_type(onnx::AttributeProto::INT);
      attr->set_i(2);
    }
  }
  *g.add_initializer() = FloatTensor("K", {1, channels, 5, 5}, 7.f);  // not a weight
  onnx::NodeProto& add = *g.add_node();
  add.set_name("add");
  add.set_op_type("Add");
  add.add_input(x);
  add.add_input("K");
  add.add_output("Y");
  value(g.add_output(), "Y");
  return model;
}

// Moves every raw tensor into `dir/name.data`, each after `pad` filler bytes (odd pads give
// unaligned offsets), and writes `dir/name`. Returns the model path.
std::string SaveExternal(onnx::ModelProto model, const std::string& dir, const std::string& name,
                         int pad) {
  fs::create_directories(dir);
  std::string data;
  (void)ForEachTensor(model, [&](onnx::TensorProto& t) -> absl::Status {
    if (!t.has_raw_data()) return absl::OkStatus();
    data.append(static_cast<size_t>(pad), 'z');
    const size_t offset = data.size();
    data += t.raw_data();
    const auto length = static_cast<int64_t>(t.raw_data().size());
    t.clear_raw_data();
    SetExternalDataEntries(t, name + ".data", static_cast<int64_t>(offset), length);
    return absl::OkStatus();
  });
  testing::WriteFile(dir + "/" + name + ".data", data);
  const std::string path = dir + "/" + name;
  EXPECT_TRUE(SaveModel(model, path).ok());
  return path;
}

void CopyModel(const std::string& from_dir, const std::string& to_dir, const std::string& name) {
  fs::create_directories(to_dir);
  for (const std::string& f : {name, name + ".data"}) {
    if (fs::exists(from_dir + "/" + f)) {
      fs::copy_file(from_dir + "/" + f, to_dir + "/" + f, fs::copy_options::overwrite_existing);
    }
  }
}

// The model with every tensor's bytes loaded, external references and the storage marker
// cleared: equal for models that hold the same content wherever it is stored.
std::string Content(const std::string& path) {
  auto loaded = LoadModel(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return "";
  (void)ForEachTensor(loaded->model, [](onnx::TensorProto& t) -> absl::Status {
    t.clear_data_location();
    t.clear_external_data();
    return absl::OkStatus();
  });
  return loaded->model.SerializeAsString();
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// ---- running the binary -------------------------------------------------------------------------

struct ToolRun {
  int status = 0;  // as from waitpid
  int64_t max_rss_kib = 0;
  bool killed() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

constexpr char kGnuTime[] = "/usr/bin/time";

// With rss_file: runs under GNU time, which writes the tool's peak RSS (KiB) there. (The
// rusage of a child spawned from this process is useless: a vfork'ed or forked child's peak
// RSS starts at this process's own.)
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
            const std::string& rss_file = "") {
  std::vector<std::string> argv_s;
  if (!rss_file.empty()) argv_s = {kGnuTime, "-f", "%M", "-o", rss_file};
  argv_s.push_back(TFLAYOUT_OPT_PATH);
  argv_s.push_back("-q");
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("TFLAYOUT_TEST_CRASH_AT=", 0) != 0) env_s.push_back(*e);
  }
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

ToolRun Wait(pid_t pid) {
  ToolRun run;
  struct rusage usage {};
  EXPECT_EQ(::wait4(pid, &run.status, 0, &usage), pid);
  run.max_rss_kib = usage.ru_maxrss;
  return run;
}

ToolRun RunTool(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  return Wait(Spawn(args, env));
}

// Runs the tool under GNU time and returns its peak RSS in KiB in max_rss_kib.
ToolRun Measure(const std::vector<std::string>& args) {
  const std::string file = testing::MakeTempDir() + "/rss";
  ToolRun run = Wait(Spawn(args, {}, file));
  run.max_rss_kib = std::atoll(ReadFile(file).c_str());
  return run;
}

// ---- streaming ----------------------------------------------------------------------------------

class Streaming : public ::testing::TestWithParam<int> {};  // param: filler bytes per tensor

TEST_P(Streaming, OutputEqualsFullLoadByteForByte) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = SaveExternal(MakeChain(6, 8), dir + "/in", "m.onnx", GetParam());
  const std::string model_before = ReadFile(input), data_before = ReadFile(input + ".data");
  for (const std::string& passes :
       {std::string(kDefaultPipeline), std::string("conv-transpose-to-tf{form=custom-op}"),
        std::string("conv-transpose-to-tf,conv-transpose-from-tf"), std::string("")}) {
    SCOPED_TRACE(passes);
    fs::remove_all(dir + "/s");
    fs::remove_all(dir + "/f");
    fs::create_directories(dir + "/s");
    fs::create_directories(dir + "/f");
    auto streamed = RunOpt({input, "-o", dir + "/s/out.onnx", "--passes=" + passes});
    ASSERT_EQ(streamed.exit_code, kExitOk) << streamed.output;
    auto full = RunOpt({input, "-o", dir + "/f/out.onnx", "--passes=" + passes, "--no-stream"});
    ASSERT_EQ(full.exit_code, kExitOk) << full.output;
    EXPECT_EQ(ReadFile(dir + "/s/out.onnx"), ReadFile(dir + "/f/out.onnx"));
    EXPECT_EQ(ReadFile(dir + "/s/out.onnx.data"), ReadFile(dir + "/f/out.onnx.data"));
    EXPECT_EQ(Listing(dir + "/s"), (std::vector<std::string>{"out.onnx", "out.onnx.data"}));
    // The input is never modified without --in-place.
    EXPECT_EQ(ReadFile(input), model_before);
    EXPECT_EQ(ReadFile(input + ".data"), data_before);
  }
  auto annotation = ReadAnnotation(LoadModel(dir + "/f/out.onnx")->model);
  ASSERT_TRUE(annotation.ok());
  EXPECT_EQ(annotation->tensors_size(), 0);  // the last pipeline was empty
}

INSTANTIATE_TEST_SUITE_P(Offsets, Streaming, ::testing::Values(0, 3));

TEST(StreamingCli, EmbeddedOutputAndOverlapFallBackToFullLoad) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = SaveExternal(MakeChain(3, 4), dir, "m.onnx", 1);
  auto never = RunOpt({input, "-o", dir + "/e.onnx", "--external-data=never"});
  ASSERT_EQ(never.exit_code, kExitOk) << never.output;
  EXPECT_FALSE(testing::FileExists(dir + "/e.onnx.data"));
  auto streamed_out = RunOpt({input, "-o", dir + "/s.onnx"});
  ASSERT_EQ(streamed_out.exit_code, kExitOk) << streamed_out.output;
  EXPECT_EQ(Content(dir + "/e.onnx"), Content(dir + "/s.onnx"));

  // Two tensors on the same bytes: streaming cannot rewrite one alone, so it loads fully.
  auto loaded = LoadModel(input, LoadOptions{false});
  ASSERT_TRUE(loaded.ok());
  onnx::GraphProto& g = *loaded->model.mutable_graph();
  onnx::TensorProto alias = g.initializer(0);  // W0's region
  alias.set_name("alias");
  *g.add_initializer() = alias;
  ASSERT_TRUE(SaveModel(loaded->model, dir + "/alias.onnx").ok());
  fs::create_directories(dir + "/a1");
  fs::create_directories(dir + "/a2");
  auto streamed = RunOpt({dir + "/alias.onnx", "-o", dir + "/a1/a.onnx", "--no-verify"});
  auto full = RunOpt({dir + "/alias.onnx", "-o", dir + "/a2/a.onnx", "--no-verify", "--no-stream"});
  ASSERT_EQ(streamed.exit_code, kExitOk) << streamed.output;
  ASSERT_EQ(full.exit_code, kExitOk) << full.output;
  EXPECT_EQ(ReadFile(dir + "/a1/a.onnx"), ReadFile(dir + "/a2/a.onnx"));
  EXPECT_EQ(ReadFile(dir + "/a1/a.onnx.data"), ReadFile(dir + "/a2/a.onnx.data"));
  auto in_place = RunOpt({dir + "/alias.onnx", "--in-place", "--no-verify"});
  EXPECT_NE(in_place.exit_code, kExitOk);
  EXPECT_THAT(in_place.output, HasSubstr("share their external data bytes"));
}

// Peak RSS of a streamed run stays near the largest tensor, not the model size.
TEST(StreamingCli, PeakMemoryIsBoundedByTheLargestTensor) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "peak RSS is not meaningful under AddressSanitizer (shadow memory, quarantine)";
#endif
  const std::string dir = testing::MakeTempDir();
  // 24 layers of 128 x 128 x 4 x 4 floats: 1 MiB each, 24 MiB of weights.
  if (::access(kGnuTime, X_OK) != 0) GTEST_SKIP() << kGnuTime << " is needed to measure RSS";
  const std::string input = SaveExternal(MakeChain(24, 128, 4), dir, "m.onnx", 0);
  const ToolRun streamed = Measure({input, "-o", dir + "/s.onnx"});
  ASSERT_EQ(streamed.exit_code(), kExitOk);
  const ToolRun full = Measure({input, "-o", dir + "/f.onnx", "--no-stream"});
  ASSERT_EQ(full.exit_code(), kExitOk);
  fs::create_directories(dir + "/ip");
  CopyModel(dir, dir + "/ip", "m.onnx");
  const ToolRun in_place = Measure({dir + "/ip/m.onnx", "--in-place"});
  ASSERT_EQ(in_place.exit_code(), kExitOk);
  // The same run on a one-layer model: what the tool needs besides the weights.
  const std::string small = SaveExternal(MakeChain(1, 128, 4), dir + "/small", "m.onnx", 0);
  const ToolRun base = Measure({small, "-o", dir + "/small/out.onnx"});
  ASSERT_EQ(base.exit_code(), kExitOk);
  const int64_t baseline = base.max_rss_kib;
  RecordProperty("baseline_kib", static_cast<int>(baseline));
  RecordProperty("streamed_kib", static_cast<int>(streamed.max_rss_kib));
  RecordProperty("full_kib", static_cast<int>(full.max_rss_kib));
  RecordProperty("in_place_kib", static_cast<int>(in_place.max_rss_kib));
  // A full load holds all 24 MiB at least once; the streamed run one 1 MiB tensor.
  EXPECT_GT(full.max_rss_kib - baseline, 20 * 1024);
  EXPECT_LT(streamed.max_rss_kib - baseline, 8 * 1024)
      << "streamed " << streamed.max_rss_kib << " KiB, baseline " << baseline << " KiB";
  EXPECT_LT(in_place.max_rss_kib - baseline, 8 * 1024)
      << "in place " << in_place.max_rss_kib << " KiB, baseline " << baseline << " KiB";
  EXPECT_EQ(Content(dir + "/ip/m.onnx"), Content(dir + "/s.onnx"));
}

// A model whose weights are all embedded is rewritten in place by the streamed writer, as -o
// would write it: weights read from the input file one tensor at a time into a new file renamed
// over it. It once was loaded and serialized whole (2 GiB resident for a 1 GiB model).
TEST(StreamingCli, EmbeddedInPlaceStreamsLikeDashO) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "peak RSS is not meaningful under AddressSanitizer (shadow memory, quarantine)";
#endif
  if (::access(kGnuTime, X_OK) != 0) GTEST_SKIP() << kGnuTime << " is needed to measure RSS";
  const std::string dir = testing::MakeTempDir();
  fs::create_directories(dir + "/ip");
  fs::create_directories(dir + "/small");
  // 24 layers of 128 x 128 x 4 x 4 floats: 1 MiB each, embedded (24 MiB in the model file).
  onnx::ModelProto model = MakeChain(24, 128, 4), small = MakeChain(1, 128, 4);
  ASSERT_TRUE(SaveModel(model, dir + "/m.onnx").ok());
  ASSERT_TRUE(SaveModel(model, dir + "/ip/m.onnx").ok());
  ASSERT_TRUE(SaveModel(small, dir + "/small/m.onnx").ok());
  const ToolRun out = Measure({dir + "/m.onnx", "-o", dir + "/out.onnx"});
  ASSERT_EQ(out.exit_code(), kExitOk);
  const ToolRun in_place = Measure({dir + "/ip/m.onnx", "--in-place"});
  ASSERT_EQ(in_place.exit_code(), kExitOk);
  const ToolRun base = Measure({dir + "/small/m.onnx", "--in-place"});
  ASSERT_EQ(base.exit_code(), kExitOk);
  EXPECT_EQ(ReadFile(dir + "/ip/m.onnx"), ReadFile(dir + "/out.onnx"));
  EXPECT_EQ(Listing(dir + "/ip"), (std::vector<std::string>{"m.onnx"}));  // no journal, no temp
  EXPECT_LT(in_place.max_rss_kib - base.max_rss_kib, 8 * 1024)
      << "in place " << in_place.max_rss_kib << " KiB, one layer " << base.max_rss_kib << " KiB";
  // Already converted: a second run leaves the file alone.
  const std::string converted = ReadFile(dir + "/ip/m.onnx");
  auto again = RunOpt({dir + "/ip/m.onnx", "--in-place"});
  ASSERT_EQ(again.exit_code, kExitOk) << again.output;
  EXPECT_EQ(ReadFile(dir + "/ip/m.onnx"), converted);
}

// ---- in place -----------------------------------------------------------------------------------

TEST(InPlace, EqualsTheOutputOfDashO) {
  const std::string dir = testing::MakeTempDir();
  for (int pad : {0, 5}) {
    const std::string sub = dir + "/p" + std::to_string(pad);
    const std::string input = SaveExternal(MakeChain(6, 8), sub, "m.onnx", pad);
    const std::string data_size_before = std::to_string(fs::file_size(input + ".data"));
    auto out = RunOpt({input, "-o", sub + "/out.onnx"});
    ASSERT_EQ(out.exit_code, kExitOk) << out.output;
    auto in_place = RunOpt({input, "--in-place"});
    ASSERT_EQ(in_place.exit_code, kExitOk) << in_place.output;
    EXPECT_THAT(in_place.output, HasSubstr("rewrote 6 of 6 ConvTranspose weight(s)"));
    EXPECT_EQ(Content(input), Content(sub + "/out.onnx"));
    EXPECT_EQ(std::to_string(fs::file_size(input + ".data")), data_size_before);
    EXPECT_FALSE(testing::FileExists(InPlaceJournalPath(input)));
    // A second run changes nothing and leaves the files alone.
    const std::string model = ReadFile(input), data = ReadFile(input + ".data");
    auto again = RunOpt({input, "--in-place"});
    ASSERT_EQ(again.exit_code, kExitOk) << again.output;
    EXPECT_EQ(ReadFile(input), model);
    EXPECT_EQ(ReadFile(input + ".data"), data);
  }
}

TEST(InPlace, EmbeddedModelIsReplacedAtomically) {
  const std::string dir = testing::MakeTempDir();
  onnx::ModelProto model = MakeChain(4, 8);
  ASSERT_TRUE(SaveModel(model, dir + "/m.onnx").ok());
  auto out = RunOpt({dir + "/m.onnx", "-o", dir + "/out.onnx"});
  ASSERT_EQ(out.exit_code, kExitOk) << out.output;
  auto in_place = RunOpt({dir + "/m.onnx", "--in-place"});
  ASSERT_EQ(in_place.exit_code, kExitOk) << in_place.output;
  EXPECT_EQ(ReadFile(dir + "/m.onnx"), ReadFile(dir + "/out.onnx"));
  EXPECT_EQ(Listing(dir), (std::vector<std::string>{"m.onnx", "out.onnx"}));
}

TEST(InPlace, UsageErrors) {
  const std::string dir = testing::MakeTempDir();
  const std::string input = SaveExternal(MakeChain(2, 4), dir, "m.onnx", 0);
  EXPECT_EQ(RunOpt({input, "--in-place", "-o", dir + "/x.onnx"}).exit_code, kExitUsage);
  EXPECT_EQ(RunOpt({"-", "--in-place"}).exit_code, kExitUsage);
}

class Kill : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    // Many external tensors, unaligned offsets (mmap of a region inside a page).
    SaveExternal(MakeChain(12, 16), dir_ + "/orig", "m.onnx", 3);
    CopyModel(dir_ + "/orig", dir_ + "/ref", "m.onnx");
    const ToolRun ref = RunTool({dir_ + "/ref/m.onnx", "--in-place"});
    ASSERT_EQ(ref.exit_code(), kExitOk);
    ref_model_ = ReadFile(dir_ + "/ref/m.onnx");
    ref_data_ = ReadFile(dir_ + "/ref/m.onnx.data");
    ASSERT_NE(ref_data_, ReadFile(dir_ + "/orig/m.onnx.data"));
  }
  std::string Fresh(const std::string& name) {
    const std::string sub = dir_ + "/" + name;
    fs::remove_all(sub);
    CopyModel(dir_ + "/orig", sub, "m.onnx");
    return sub + "/m.onnx";
  }
  void ExpectFinished(const std::string& path) {
    EXPECT_EQ(ReadFile(path), ref_model_);
    EXPECT_EQ(ReadFile(path + ".data"), ref_data_);
    EXPECT_EQ(Listing(fs::path(path).parent_path().string()),
              (std::vector<std::string>{"m.onnx", "m.onnx.data"}));
  }
  std::string dir_, ref_model_, ref_data_;
};

// SIGKILL at every step of the journal protocol, then the same command again.
TEST_F(Kill, AtEveryJournalStepThenRerunFinishes) {
  int steps = 0;
  for (int n = 0;; ++n) {
    SCOPED_TRACE("killed at step " + std::to_string(n));
    ASSERT_LT(n, 1000) << "the run never completed";
    const std::string path = Fresh("k");
    const ToolRun first = RunTool({path, "--in-place"}, {"TFLAYOUT_TEST_CRASH_AT=" + std::to_string(n)});
    if (!first.killed()) {
      ASSERT_EQ(first.exit_code(), kExitOk);
      ExpectFinished(path);
      steps = n;
      break;
    }
    EXPECT_EQ(ReadFile(path + ".data").size(), ref_data_.size());
    // Without --in-place the half-done input is refused, untouched.
    const std::string model_mid = ReadFile(path), data_mid = ReadFile(path + ".data");
    if (testing::FileExists(InPlaceJournalPath(path)) &&
        model_mid == ReadFile(dir_ + "/orig/m.onnx")) {
      auto refused = RunOpt({path, "-o", dir_ + "/never.onnx"});
      EXPECT_EQ(refused.exit_code, kExitInput);
      EXPECT_THAT(refused.output, HasSubstr("interrupted --in-place run"));
      auto other = RunOpt({path, "--in-place", "--passes=conv-transpose-to-tf{form=custom-op}"});
      EXPECT_EQ(other.exit_code, kExitInput);
      EXPECT_THAT(other.output, HasSubstr("another pipeline"));
      EXPECT_EQ(ReadFile(path), model_mid);
      EXPECT_EQ(ReadFile(path + ".data"), data_mid);
    }
    const ToolRun second = RunTool({path, "--in-place"});
    ASSERT_EQ(second.exit_code(), kExitOk);
    ExpectFinished(path);
  }
  // 12 weights x 4 steps + journal creation, commit and rename.
  EXPECT_GE(steps, 12 * 4 + 3);
}

// A kill during recovery (or later in the resumed run) is recovered from as well.
TEST_F(Kill, TwiceThenRerunFinishes) {
  for (int n : {2, 3, 5, 9, 30}) {
    for (int m : {0, 1, 2, 4, 7}) {
      SCOPED_TRACE("kills at " + std::to_string(n) + " then " + std::to_string(m));
      const std::string path = Fresh("kk");
      RunTool({path, "--in-place"}, {"TFLAYOUT_TEST_CRASH_AT=" + std::to_string(n)});
      RunTool({path, "--in-place"}, {"TFLAYOUT_TEST_CRASH_AT=" + std::to_string(m)});
      const ToolRun last = RunTool({path, "--in-place"});
      ASSERT_EQ(last.exit_code(), kExitOk);
      ExpectFinished(path);
    }
  }
}

// SIGKILL from outside at random moments of a bigger run.
TEST_F(Kill, AtRandomMomentsThenRerunFinishes) {
  dir_ = testing::MakeTempDir();
  SaveExternal(MakeChain(48, 128, 4), dir_ + "/orig", "m.onnx", 3);  // 48 MiB of weights
  CopyModel(dir_ + "/orig", dir_ + "/ref", "m.onnx");
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(RunTool({dir_ + "/ref/m.onnx", "--in-place"}).exit_code(), kExitOk);
  const int64_t duration_us = std::max<int64_t>(
      1000, std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start)
                .count());
  ref_model_ = ReadFile(dir_ + "/ref/m.onnx");
  ref_data_ = ReadFile(dir_ + "/ref/m.onnx.data");
  std::mt19937_64 rng(20240611);
  int killed = 0;
  for (int i = 0; i < 8; ++i) {
    const int64_t delay = std::uniform_int_distribution<int64_t>(0, duration_us)(rng);
    SCOPED_TRACE("kill after " + std::to_string(delay) + " us");
    const std::string path = Fresh("r");
    const pid_t pid = Spawn({path, "--in-place"}, {});
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(pid, SIGKILL);
    killed += Wait(pid).killed();
    const ToolRun second = RunTool({path, "--in-place"});
    ASSERT_EQ(second.exit_code(), kExitOk);
    ExpectFinished(path);
  }
  RecordProperty("killed", killed);
}

// ---- in place, step by step --------------------------------------------------------------------
// A weight larger than a tile (TFLAYOUT_TEST_TILE_BYTES shrinks the 8 MiB default) is permuted
// step by step, each step journaled (lib/io/journaled_permute.h): the result is byte for byte
// the whole-tensor path's; a SIGKILL at every step of it (before a step writes, halfway through
// its writes, after its sync; and during recovery) followed by the same command gives that
// result; and the step files never hold more than two steps, whatever the tensor.

constexpr char kTinyTiles[] = "TFLAYOUT_TEST_TILE_BYTES=2048";

int64_t StepFilesBytes(const std::string& model_path) {
  int64_t total = 0;
  for (const char* suffix : {".step0", ".step1"}) {
    struct stat st {};
    if (::stat((InPlaceJournalPath(model_path) + suffix).c_str(), &st) == 0) {
      total += static_cast<int64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

class KillTiled : public Kill {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    // W0 16 x 16 x 3 x 3 floats (9 KiB, three phases); the rest under the tile.
    SaveExternal(MakeChain(1, 16), dir_ + "/orig", "m.onnx", 3);
    CopyModel(dir_ + "/orig", dir_ + "/ref", "m.onnx");
    ASSERT_EQ(RunTool({dir_ + "/ref/m.onnx", "--in-place"}).exit_code(), kExitOk);  // mapped
    ref_model_ = ReadFile(dir_ + "/ref/m.onnx");
    ref_data_ = ReadFile(dir_ + "/ref/m.onnx.data");
  }
};

TEST_F(KillTiled, AtEveryStepThenRerunFinishes) {
  const std::string tiled = Fresh("t");
  ASSERT_EQ(RunTool({tiled, "--in-place"}, {kTinyTiles}).exit_code(), kExitOk);
  ExpectFinished(tiled);
  int steps = 0;
  int64_t most_step_bytes = 0;
  for (int n = 0;; ++n) {
    SCOPED_TRACE("killed at step " + std::to_string(n));
    ASSERT_LT(n, 1000) << "the run never completed";
    const std::string path = Fresh("k");
    const ToolRun first =
        RunTool({path, "--in-place"}, {kTinyTiles, "TFLAYOUT_TEST_CRASH_AT=" + std::to_string(n)});
    if (!first.killed()) {
      ASSERT_EQ(first.exit_code(), kExitOk);
      ExpectFinished(path);
      steps = n;
      break;
    }
    most_step_bytes = std::max(most_step_bytes, StepFilesBytes(path));
    // Every third rerun without the small tiles: the interrupted tensor keeps its recorded ones.
    const ToolRun second =
        RunTool({path, "--in-place"}, n % 3 == 0 ? std::vector<std::string>{}
                                                 : std::vector<std::string>{kTinyTiles});
    ASSERT_EQ(second.exit_code(), kExitOk);
    ExpectFinished(path);
  }
  // 9 KiB through 2 KiB tiles: tens of steps of three kill points each.
  EXPECT_GE(steps, 40);
  // Two step records of at most two tiles of saved bytes each, plus their heads, in whole
  // file-system blocks (the bound against the tensor's size is pinned at scale by
  // journaled_permute_test and memory_bound_test).
  EXPECT_GT(most_step_bytes, 0);
  EXPECT_LE(most_step_bytes, 4 * 2048 + 4 * 4096);
  RecordProperty("kill_points", steps);
}

// Killed during the rerun too (the first kill points of a rerun are the undo of the last step
// and the first steps after it).
TEST_F(KillTiled, TwiceThenRerunFinishes) {
  for (int n : {3, 10, 25, 41}) {
    for (int m : {0, 1, 2, 3, 6}) {
      SCOPED_TRACE("kills at " + std::to_string(n) + " then " + std::to_string(m));
      const std::string path = Fresh("kk");
      RunTool({path, "--in-place"}, {kTinyTiles, "TFLAYOUT_TEST_CRASH_AT=" + std::to_string(n)});
      RunTool({path, "--in-place"}, {kTinyTiles, "TFLAYOUT_TEST_CRASH_AT=" + std::to_string(m)});
      const ToolRun last = RunTool({path, "--in-place"}, {kTinyTiles});
      ASSERT_EQ(last.exit_code(), kExitOk);
      ExpectFinished(path);
    }
  }
}

}  // namespace
}  // namespace tflayout
