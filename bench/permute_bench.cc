// Throughput of the (A, B, S) -> (S, B, A) permute against this machine's copy limits.
//
// Per shape, in one process and interleaved (round after round, every variant once per round,
// best of --reps rounds, so that a noisy neighbour slows all variants alike):
//   memcpy      glibc memcpy between two buffers of the array's size
//   stream      a copy with non-temporal (streaming) stores, AVX2 _mm256_stream_si256 + sfence
//   rmw         one in-place read-modify-write pass over the array (load, add, store)
//   oop, ip     the out-of-place and in-place permute (one thread, default options)
//   oopN, ipN   the same with num_threads = N (--threads=N, N > 1), and streamN, the stream
//               copy split across N threads
// Rates are bytes of the array per second. The limits:
//   out-of-place: max(memcpy, stream)  (reads and writes every byte once, like a copy)
//   in-place:     rmw / 2              (the in-place scheme needs two passes unless A == S)
// Two tables: shapes under 64 MiB (cache- or L3-sized), then DRAM-resident shapes (>= 64 MiB,
// twice the 32 MiB L3 of the development machine), each followed by its geometric means. The
// last line printed is
//   in_place/limit=<r> out_of_place/limit=<r>
// over the DRAM-resident shapes, one thread.
//
// Flags: --reps=N (rounds, default 5), --threads=N (default 1), --filter=SUBSTR (shape names),
// --small / --dram (one table only), --hugepages (madvise(MADV_HUGEPAGE) the benchmark's own
// buffers; the default is plain 4 KiB pages, as a caller's buffers usually are), --cpu-time (the
// one-thread rates from the calling thread's CPU time instead of the wall clock: time spent
// descheduled by a busy neighbour does not count; memory contention still does. The thread
// scaling columns always compare wall clocks), --offset=N (the permutes' arrays start N bytes
// past a 64-byte boundary, e.g. 1: a weight embedded in a model file at an odd offset; the
// copy baselines stay aligned).
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tflayout/permute.h"

namespace {

struct Case {
  const char* type;
  size_t es;
  int64_t a, b, s;
  size_t bytes() const { return static_cast<size_t>(a * b * s) * es; }
  bool dram() const { return bytes() >= (size_t{64} << 20); }
  std::string name() const {
    return std::string(type) + "/" + std::to_string(a) + "x" + std::to_string(b) + "x" +
           std::to_string(s);
  }
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      // under 64 MiB
      {"f32", 4, 64, 32, 27},
      {"f32", 4, 3, 64, 49},
      {"f32", 4, 512, 256, 16},
      {"f32", 4, 256, 128, 64},
      {"f32", 4, 1024, 512, 9},
      {"f16", 2, 1024, 512, 9},
      {"i8", 1, 1024, 512, 9},
      {"f64", 8, 512, 256, 9},
      // DRAM-resident
      {"f32", 4, 2048, 1024, 16},
      {"f32", 4, 1024, 1024, 64},
      {"f32", 4, 4096, 2048, 9},
      {"f32", 4, 4096, 4096, 4},
      {"f16", 2, 4096, 4096, 4},
      {"i8", 1, 8192, 4096, 4},
      {"f64", 8, 2048, 1024, 9},
      {"f32", 4, 8192, 8192, 1},
  };
  return cases;
}

struct Flags {
  int reps = 5;
  int threads = 1;
  std::string filter;
  bool small = true, dram = true;
  bool hugepages = false;
  bool cpu_time = false;
  size_t offset = 0;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<unsigned char, FreeDeleter>;

Buffer Alloc(size_t bytes, int fill, bool hugepages) {
  void* p = nullptr;
  const size_t align = hugepages ? size_t{2} << 20 : 64;
  const size_t n = (std::max<size_t>(bytes, 64) + align - 1) / align * align;
  if (posix_memalign(&p, align, n) != 0) std::abort();
  if (hugepages) madvise(p, n, MADV_HUGEPAGE);
  std::memset(p, fill, bytes);  // fault the pages in outside the timed loops
  return Buffer(static_cast<unsigned char*>(p));
}

// ---- baselines -----------------------------------------------------------------------------------

#if defined(__x86_64__)
__attribute__((target("avx2"))) void StreamCopy(unsigned char* d, const unsigned char* s,
                                                  size_t n) {
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i));
    const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i + 32));
    const __m256i x2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i + 64));
    const __m256i x3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + i + 96));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i), x0);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 32), x1);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 64), x2);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 96), x3);
  }
  _mm_sfence();
  std::memcpy(d + i, s + i, n - i);
}

__attribute__((target("avx2"))) void ReadModifyWrite(unsigned char* p, size_t n) {
  const __m256i one = _mm256_set1_epi8(1);
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    auto* q = reinterpret_cast<__m256i*>(p + i);
    const __m256i x0 = _mm256_add_epi8(_mm256_load_si256(q), one);
    const __m256i x1 = _mm256_add_epi8(_mm256_load_si256(q + 1), one);
    const __m256i x2 = _mm256_add_epi8(_mm256_load_si256(q + 2), one);
    const __m256i x3 = _mm256_add_epi8(_mm256_load_si256(q + 3), one);
    _mm256_store_si256(q, x0);
    _mm256_store_si256(q + 1, x1);
    _mm256_store_si256(q + 2, x2);
    _mm256_store_si256(q + 3, x3);
  }
  for (; i < n; ++i) ++p[i];
}
#else
void StreamCopy(unsigned char* d, const unsigned char* s, size_t n) { std::memcpy(d, s, n); }
void ReadModifyWrite(unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) ++p[i];
}
#endif

// Splits [0, n) into `threads` 4 KiB-aligned ranges and runs fn on each, one per thread.
void Split(int threads, size_t n, const std::function<void(size_t, size_t)>& fn) {
  std::vector<std::thread> workers;
  const size_t step = (n / threads + 4095) / 4096 * 4096;
  for (int t = 1; t < threads; ++t) {
    const size_t b = std::min(n, step * t), e = std::min(n, step * (t + 1));
    workers.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(0, std::min(n, step));
  for (auto& w : workers) w.join();
}

// ---- interleaved timing --------------------------------------------------------------------------

struct Variant {
  std::string name;
  std::function<void()> run;
  double best_wall = 1e300;  // seconds per call, wall clock
  double best_cpu = 1e300;   // seconds per call, the calling thread's CPU time
  int calls = 1;             // calls per timed sample (small shapes: enough for ~10 ms)
};

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void Sample(Variant& v) {
  const double c0 = ThreadCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < v.calls; ++i) v.run();
  const auto t1 = std::chrono::steady_clock::now();
  const double c1 = ThreadCpuSeconds();
  v.best_wall = std::min(v.best_wall, std::chrono::duration<double>(t1 - t0).count() / v.calls);
  v.best_cpu = std::min(v.best_cpu, (c1 - c0) / v.calls);
}

void Measure(std::vector<Variant>& vs, int reps) {
  for (Variant& v : vs) {  // warm-up call, and the batch size for short calls
    const auto t0 = std::chrono::steady_clock::now();
    v.run();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    v.calls = static_cast<int>(std::clamp(0.01 / std::max(t, 1e-9), 1.0, 1000.0));
  }
  for (int r = 0; r < reps; ++r) {
    for (Variant& v : vs) Sample(v);
  }
}

struct Row {
  Case c;
  double memcpy_rate, stream_rate, rmw_rate, oop, ip;
  double stream_n = 0, oop_n = 0, ip_n = 0, oop_wall = 0, ip_wall = 0;
  double oop_limit() const { return std::max(memcpy_rate, stream_rate); }
  double ip_limit() const { return rmw_rate / 2; }
};

Row MeasureCase(const Case& c, const Flags& f) {
  const size_t n = c.bytes();
  Buffer src = Alloc(n + f.offset, 1, f.hugepages), dst = Alloc(n + f.offset, 2, f.hugepages);
  unsigned char* s = src.get();
  unsigned char* d = dst.get();
  unsigned char* ps = s + f.offset;  // the permutes' arrays
  unsigned char* pd = d + f.offset;
  auto permute_oop = [=](int threads) {
    tflayout::PermuteOptions o;
    o.num_threads = threads;
    if (!tflayout::PermuteABSToSBAOutOfPlace(ps, pd, c.es, c.a, c.b, c.s, o).ok()) std::abort();
    benchmark::ClobberMemory();
  };
  // The same forward permutation of dst again and again; the content is irrelevant.
  auto permute_ip = [=](int threads) {
    tflayout::PermuteOptions o;
    o.num_threads = threads;
    if (!tflayout::PermuteABSToSBA(pd, c.es, c.a, c.b, c.s, o).ok()) std::abort();
    benchmark::ClobberMemory();
  };
  std::vector<Variant> vs = {
      {"memcpy", [=] { std::memcpy(d, s, n); benchmark::ClobberMemory(); }},
      {"stream", [=] { StreamCopy(d, s, n); benchmark::ClobberMemory(); }},
      {"rmw", [=] { ReadModifyWrite(d, n); benchmark::ClobberMemory(); }},
      {"oop", [=] { permute_oop(1); }},
      {"ip", [=] { permute_ip(1); }},
  };
  const int t = f.threads;
  if (t > 1) {
    vs.push_back({"streamN", [=] {
                    Split(t, n, [=](size_t b, size_t e) { StreamCopy(d + b, s + b, e - b); });
                    benchmark::ClobberMemory();
                  }});
    vs.push_back({"oopN", [=] { permute_oop(t); }});
    vs.push_back({"ipN", [=] { permute_ip(t); }});
  }
  Measure(vs, f.reps);
  auto rate = [&](const char* name, bool cpu) {
    for (const Variant& v : vs) {
      if (v.name == name) return static_cast<double>(n) / (cpu ? v.best_cpu : v.best_wall);
    }
    return 0.0;
  };
  // One-thread variants on the chosen clock; the thread scaling on the wall clock throughout.
  Row row{c, rate("memcpy", f.cpu_time), rate("stream", f.cpu_time), rate("rmw", f.cpu_time),
          rate("oop", f.cpu_time), rate("ip", f.cpu_time)};
  if (t > 1) {
    row.stream_n = rate("streamN", false);
    row.oop_n = rate("oopN", false);
    row.ip_n = rate("ipN", false);
    row.oop_wall = rate("oop", false);
    row.ip_wall = rate("ip", false);
  }
  return row;
}

// ---- report --------------------------------------------------------------------------------------

struct Means {
  double log_ip = 0, log_oop = 0, log_ip_t = 0, log_oop_t = 0;
  int n = 0;
  double Get(double sum) const { return n ? std::exp(sum / n) : std::nan(""); }
};

void PrintHeader(const char* title, int threads) {
  std::printf("\n%s\n%-20s %6s %7s %7s %7s %7s %7s %6s %6s", title, "shape", "MiB", "memcpy",
              "stream", "rmw", "oop", "ip", "oop/L", "ip/L");
  if (threads > 1) {
    std::printf(" %7s %7s %7s %6s %6s", ("stream" + std::to_string(threads)).c_str(),
                ("oop" + std::to_string(threads)).c_str(), ("ip" + std::to_string(threads)).c_str(),
                "oopxT", "ipxT");
  }
  std::printf("   (GB/s; L = limit)\n");
}

void PrintRow(const Row& r, int threads, Means& m) {
  const double oop_r = r.oop / r.oop_limit(), ip_r = r.ip / r.ip_limit();
  std::printf("%-20s %6.1f %7.2f %7.2f %7.2f %7.2f %7.2f %6.3f %6.3f", r.c.name().c_str(),
              static_cast<double>(r.c.bytes()) / (1 << 20), r.memcpy_rate / 1e9,
              r.stream_rate / 1e9, r.rmw_rate / 1e9, r.oop / 1e9, r.ip / 1e9, oop_r, ip_r);
  m.log_oop += std::log(oop_r);
  m.log_ip += std::log(ip_r);
  if (threads > 1) {
    std::printf(" %7.2f %7.2f %7.2f %6.2f %6.2f", r.stream_n / 1e9, r.oop_n / 1e9, r.ip_n / 1e9,
                r.oop_n / r.oop_wall, r.ip_n / r.ip_wall);
    m.log_oop_t += std::log(r.oop_n / r.oop_wall);
    m.log_ip_t += std::log(r.ip_n / r.ip_wall);
  }
  std::printf("\n");
  std::fflush(stdout);
  ++m.n;
}

bool ParseFlag(const char* arg, const char* name, std::string* value) {
  const size_t len = std::strlen(name);
  if (std::strncmp(arg, name, len) != 0 || arg[len] != '=') return false;
  *value = arg + len + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (ParseFlag(argv[i], "--reps", &v)) {
      f.reps = std::max(1, std::atoi(v.c_str()));
    } else if (ParseFlag(argv[i], "--threads", &v)) {
      f.threads = std::max(1, std::atoi(v.c_str()));
    } else if (ParseFlag(argv[i], "--filter", &v)) {
      f.filter = v;
    } else if (std::strcmp(argv[i], "--small") == 0) {
      f.dram = false;
    } else if (std::strcmp(argv[i], "--dram") == 0) {
      f.small = false;
    } else if (std::strcmp(argv[i], "--hugepages") == 0) {
      f.hugepages = true;
    } else if (std::strcmp(argv[i], "--cpu-time") == 0) {
      f.cpu_time = true;
    } else if (ParseFlag(argv[i], "--offset", &v)) {
      f.offset = static_cast<size_t>(std::max(0, std::atoi(v.c_str())));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--reps=N] [--threads=N] [--filter=SUBSTR] [--small|--dram] "
                   "[--hugepages] [--cpu-time] [--offset=N]\n",
                   argv[0]);
      return 1;
    }
  }
  std::printf("permute kernels: %s; best of %d interleaved rounds; %s pages; %s; arrays at "
              "offset %zu\n",
              tflayout::PermuteKernelIsa(), f.reps, f.hugepages ? "huge (madvise)" : "4 KiB",
              f.cpu_time ? "one-thread rates on the thread's CPU time" : "wall clock", f.offset);
  std::printf("limits: out-of-place max(memcpy, stream); in-place rmw / 2\n");
  Means small, dram;
  for (int table = 0; table < 2; ++table) {
    const bool want_dram = table == 1;
    if (want_dram ? !f.dram : !f.small) continue;
    PrintHeader(want_dram ? "DRAM-resident shapes (>= 64 MiB)" : "shapes under 64 MiB",
                f.threads);
    Means& m = want_dram ? dram : small;
    for (const Case& c : Cases()) {
      if (c.dram() != want_dram) continue;
      if (!f.filter.empty() && c.name().find(f.filter) == std::string::npos) continue;
      PrintRow(MeasureCase(c, f), f.threads, m);
    }
    std::printf("%s geomean: in_place/limit=%.3f out_of_place/limit=%.3f", want_dram ? "DRAM" : "small",
                m.Get(m.log_ip), m.Get(m.log_oop));
    if (f.threads > 1) {
      std::printf("  %d threads vs 1: in_place x%.2f out_of_place x%.2f", f.threads,
                  m.Get(m.log_ip_t), m.Get(m.log_oop_t));
    }
    std::printf("\n");
  }
  std::printf("in_place/limit=%.3f out_of_place/limit=%.3f\n", dram.Get(dram.log_ip),
              dram.Get(dram.log_oop));
  return 0;
}
