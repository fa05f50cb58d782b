// Throughput of the (A, B, S) -> (S, B, A) permute against memcpy of the same bytes.
//
// One run measures, per shape and element type: memcpy between two buffers, a naive triple
// loop, the out-of-place path and the in-place path (one thread, default options), each with a
// bytes/second counter (bytes = the array size). The last line printed is
//   in_place/memcpy=<r> out_of_place/memcpy=<r>
// with geometric means over the shapes of >= 8 MiB of (path bytes/s) / (memcpy bytes/s on the
// same shape).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tflayout/permute.h"

namespace {

struct Case {
  const char* type;
  size_t es;
  int64_t a, b, s;
  size_t bytes() const { return static_cast<size_t>(a * b * s) * es; }
  std::string name() const {
    return std::string(type) + "/" + std::to_string(a) + "x" + std::to_string(b) + "x" +
           std::to_string(s);
  }
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> v;
    const int64_t f32[][3] = {{512, 256, 16}, {1024, 512, 9}, {2048, 1024, 16}, {512, 512, 27},
                              {256, 128, 64}, {4096, 4096, 1}, {64, 32, 27},    {3, 64, 49}};
    for (const auto& s : f32) v.push_back({"f32", 4, s[0], s[1], s[2]});
    for (const auto& s : {std::array<int64_t, 3>{1024, 512, 9}, {2048, 1024, 16}}) {
      v.push_back({"f16", 2, s[0], s[1], s[2]});
      v.push_back({"i8", 1, s[0], s[1], s[2]});
    }
    return v;
  }();
  return cases;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<unsigned char, FreeDeleter>;

Buffer Alloc(size_t bytes, int fill) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, std::max<size_t>(bytes, 64)) != 0) std::abort();
  std::memset(p, fill, bytes);  // fault the pages in outside the timed loop
  return Buffer(static_cast<unsigned char*>(p));
}

template <typename T>
void NaiveLoop(const T* in, T* out, int64_t A, int64_t B, int64_t S) {
  for (int64_t a = 0; a < A; ++a) {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < S; ++s) out[(s * B + b) * A + a] = in[(a * B + b) * S + s];
    }
  }
}

void Naive(const Case& c, const void* in, void* out) {
  switch (c.es) {
    case 1: return NaiveLoop(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), c.a, c.b, c.s);
    case 2: return NaiveLoop(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), c.a, c.b, c.s);
    case 4: return NaiveLoop(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), c.a, c.b, c.s);
    default: return NaiveLoop(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), c.a, c.b, c.s);
  }
}

void BM_Memcpy(benchmark::State& state, Case c) {
  Buffer src = Alloc(c.bytes(), 1), dst = Alloc(c.bytes(), 2);
  for (auto _ : state) {
    std::memcpy(dst.get(), src.get(), c.bytes());
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes()));
}

void BM_Naive(benchmark::State& state, Case c) {
  Buffer src = Alloc(c.bytes(), 1), dst = Alloc(c.bytes(), 2);
  for (auto _ : state) {
    Naive(c, src.get(), dst.get());
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes()));
}

void BM_OutOfPlace(benchmark::State& state, Case c) {
  Buffer src = Alloc(c.bytes(), 1), dst = Alloc(c.bytes(), 2);
  for (auto _ : state) {
    if (!tflayout::PermuteABSToSBAOutOfPlace(src.get(), dst.get(), c.es, c.a, c.b, c.s).ok()) {
      state.SkipWithError("permute failed");
      break;
    }
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes()));
}

void BM_InPlace(benchmark::State& state, Case c) {
  Buffer data = Alloc(c.bytes(), 1);
  for (auto _ : state) {  // the same forward permutation again and again; content is irrelevant
    if (!tflayout::PermuteABSToSBA(data.get(), c.es, c.a, c.b, c.s).ok()) {
      state.SkipWithError("permute failed");
      break;
    }
    benchmark::DoNotOptimize(data.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes()));
}

// Console output as usual, plus the bytes/second of every run by name.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) rate_[run.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double Rate(const std::string& name) const {
    auto it = rate_.find(name);
    return it == rate_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> rate_;
};

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : Cases()) {
    benchmark::RegisterBenchmark(("memcpy/" + c.name()).c_str(), BM_Memcpy, c)->UseRealTime();
    benchmark::RegisterBenchmark(("naive/" + c.name()).c_str(), BM_Naive, c)->UseRealTime();
    benchmark::RegisterBenchmark(("out_of_place/" + c.name()).c_str(), BM_OutOfPlace, c)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("in_place/" + c.name()).c_str(), BM_InPlace, c)->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("permute kernels: %s\n", tflayout::PermuteKernelIsa());
  CapturingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // Ratios per shape, then geometric means over the shapes of >= 8 MiB.
  double log_in = 0, log_out = 0;
  int n = 0;
  std::printf("\n%-22s %9s %10s %10s %10s %10s %8s %8s\n", "shape", "MiB", "memcpy", "naive",
              "out_of_pl", "in_place", "oop/mc", "ip/mc");
  for (const Case& c : Cases()) {
    const std::string suffix = "/" + c.name() + "/real_time";
    const double mc = reporter.Rate("memcpy" + suffix);
    const double nv = reporter.Rate("naive" + suffix);
    const double op = reporter.Rate("out_of_place" + suffix);
    const double ip = reporter.Rate("in_place" + suffix);
    if (mc <= 0 || op <= 0 || ip <= 0) continue;  // filtered out
    const double mib = static_cast<double>(c.bytes()) / (1 << 20);
    std::printf("%-22s %9.1f %8.2fGB %8.2fGB %8.2fGB %8.2fGB %8.3f %8.3f%s\n", c.name().c_str(),
                mib, mc / 1e9, nv / 1e9, op / 1e9, ip / 1e9, op / mc, ip / mc,
                mib >= 8 ? "" : "  (< 8 MiB, not in the means)");
    if (mib >= 8) {
      log_in += std::log(ip / mc);
      log_out += std::log(op / mc);
      ++n;
    }
  }
  if (n == 0) {
    std::printf("in_place/memcpy=nan out_of_place/memcpy=nan\n");
    return 0;
  }
  std::printf("in_place/memcpy=%.3f out_of_place/memcpy=%.3f\n", std::exp(log_in / n),
              std::exp(log_out / n));
  return 0;
}
