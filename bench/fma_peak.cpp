// cnnc-fma-peak: the machine's peak single-precision FMA throughput, measured.
//
// For each vector ISA the host supports (AVX-512: 16 float lanes, AVX2+FMA:
// 8 lanes), a loop of independent fused multiply-adds is run on 1 thread and
// on N threads (N = hardware threads, or --threads N). The loop keeps enough
// independent accumulator chains in registers (16 for AVX-512, 12 for AVX2)
// to cover FMA latency (4 cycles) x throughput (2 per cycle), so it is bound
// by the FMA units alone. One FMA counts 2 FLOPs per lane.
//
// Each (isa, threads) pair is timed for --runs repetitions of about
// --seconds each (after one warm-up repetition); the median is reported.
// The ISA bodies are compiled with function-level target attributes, so no
// global -m flags are needed and the binary runs on any x86-64 host.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <immintrin.h>

#include "bench/measure.h"

namespace {

// Inputs read through volatiles so the compiler cannot fold the loop, and a
// sink the results are written to so it cannot drop it.
volatile float gMultiplier = 0.9999999f;
volatile float gAddend = 1e-7f;
std::atomic<double> gSink{0.0};

constexpr int kAvx512Chains = 16;
constexpr int kAvx2Chains = 12;

// acc = acc * m + a on every chain, `iterations` times. m < 1 and a small
// keep the values bounded near a / (1 - m) = 1 (no overflow, no denormals).
__attribute__((target("avx512f"), noinline)) float fmaLoopAvx512(int64_t iterations) {
  const __m512 m = _mm512_set1_ps(gMultiplier);
  const __m512 a = _mm512_set1_ps(gAddend);
  __m512 acc[kAvx512Chains];
  for (int k = 0; k < kAvx512Chains; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k) * 1e-3f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAvx512Chains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
  }
  __m512 sum = acc[0];
  for (int k = 1; k < kAvx512Chains; ++k) sum = _mm512_add_ps(sum, acc[k]);
  // (Not _mm512_reduce_add_ps: GCC 12 warns inside it, -Wuninitialized.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

__attribute__((target("avx2,fma"), noinline)) float fmaLoopAvx2(int64_t iterations) {
  const __m256 m = _mm256_set1_ps(gMultiplier);
  const __m256 a = _mm256_set1_ps(gAddend);
  __m256 acc[kAvx2Chains];
  for (int k = 0; k < kAvx2Chains; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k) * 1e-3f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kAvx2Chains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
  }
  __m256 sum = acc[0];
  for (int k = 1; k < kAvx2Chains; ++k) sum = _mm256_add_ps(sum, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

struct Isa {
  const char* name;
  int lanes;
  int chains;
  float (*loop)(int64_t);
  bool supported;
};

double flopsPerIteration(const Isa& isa) { return 2.0 * isa.lanes * isa.chains; }

// Runs `iterations` on each of `threads` threads, all released at once;
// returns the wall time from the release to the last thread's end.
double timeThreads(const Isa& isa, int threads, int64_t iterations) {
  std::vector<float> results(static_cast<size_t>(threads));
  const double seconds =
      measure::timeThreads(threads, [&](int t) { results[static_cast<size_t>(t)] = isa.loop(iterations); });
  double sum = 0;
  for (float r : results) sum += static_cast<double>(r);
  gSink.store(gSink.load() + sum);
  return seconds;
}

struct Result {
  std::string isa;
  int lanes = 0;
  int threads = 0;
  double gflops = 0;  // median
  double minGflops = 0, maxGflops = 0;
  int64_t iterations = 0;
};

Result measurePeak(const Isa& isa, int threads, int runs, double seconds) {
  // Calibrate on one thread: grow the iteration count until a run takes
  // at least 20 ms, then scale to the requested duration.
  int64_t iterations = 1 << 16;
  double elapsed = 0;
  for (;;) {
    elapsed = timeThreads(isa, 1, iterations);
    if (elapsed >= 0.02 || iterations >= (int64_t{1} << 40)) break;
    iterations *= 4;
  }
  iterations = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iterations) * seconds / elapsed));
  timeThreads(isa, threads, iterations);  // warm-up (and frequency settling)
  std::vector<double> gflops;
  for (int r = 0; r < runs; ++r) {
    const double s = timeThreads(isa, threads, iterations);
    gflops.push_back(flopsPerIteration(isa) * static_cast<double>(iterations) * threads / s / 1e9);
  }
  Result result;
  result.isa = isa.name;
  result.lanes = isa.lanes;
  result.threads = threads;
  const measure::Spread spread = measure::spreadOf(gflops);
  result.gflops = spread.median;
  result.minGflops = spread.min;
  result.maxGflops = spread.max;
  result.iterations = iterations;
  return result;
}

constexpr const char* kUsage =
    "usage: cnnc-fma-peak [--threads N] [--runs R] [--seconds S] [--isa all|avx512|avx2] [--json]\n"
    "Measures peak single-precision FMA throughput (GFLOP/s, 2 FLOPs per lane per FMA)\n"
    "on 1 thread and on N threads (default: all hardware threads), median of R runs\n"
    "(default 5) of about S seconds each (default 0.2).\n";

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int runs = 5;
  double seconds = 0.2;
  std::string only = "all";
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cnnc-fma-peak: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") {
      threads = static_cast<int>(measure::parsePositive("cnnc-fma-peak", value(), "--threads"));
    } else if (arg == "--runs") {
      runs = static_cast<int>(measure::parsePositive("cnnc-fma-peak", value(), "--runs"));
    } else if (arg == "--seconds") {
      seconds = measure::parseNumber("cnnc-fma-peak", value(), "--seconds", 60);
    } else if (arg == "--isa") {
      only = value();
      if (only != "all" && only != "avx512" && only != "avx2") {
        std::fprintf(stderr, "cnnc-fma-peak: --isa: expected all, avx512 or avx2, got '%s'\n", only.c_str());
        return 2;
      }
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      measure::usage(0, kUsage);
    } else {
      std::fprintf(stderr, "cnnc-fma-peak: unknown argument '%s'\n", arg.c_str());
      measure::usage(2, kUsage);
    }
  }

  __builtin_cpu_init();
  const Isa isas[] = {
      {"avx512", 16, kAvx512Chains, fmaLoopAvx512, __builtin_cpu_supports("avx512f") != 0},
      {"avx2", 8, kAvx2Chains, fmaLoopAvx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
  };
  std::vector<int> threadCounts = {1};
  if (threads != 1) threadCounts.push_back(threads);

  std::vector<Result> results;
  std::vector<std::string> unsupported;
  for (const Isa& isa : isas) {
    if (only != "all" && only != isa.name) continue;
    if (!isa.supported) {
      unsupported.emplace_back(isa.name);
      if (!json) std::printf("%s unsupported by this host\n", isa.name);
      continue;
    }
    for (int t : threadCounts) {
      results.push_back(measurePeak(isa, t, runs, seconds));
      const Result& r = results.back();
      if (!json) {
        std::printf("%s threads=%d gflops=%.1f (per thread %.1f; min %.1f max %.1f over %d runs)\n", r.isa.c_str(),
                    r.threads, r.gflops, r.gflops / r.threads, r.minGflops, r.maxGflops, runs);
        std::fflush(stdout);
      }
    }
  }
  if (results.empty()) {
    std::fprintf(stderr, "cnnc-fma-peak: the host supports none of the requested ISAs (AVX-512F, AVX2+FMA)\n");
    return 1;
  }

  if (json) {
    std::printf("{\"hardware_threads\": %u, \"runs\": %d, \"seconds_per_run\": %.3f, \"results\": [",
                std::thread::hardware_concurrency(), runs, seconds);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("%s{\"isa\": \"%s\", \"lanes\": %d, \"threads\": %d, \"gflops\": %.2f, \"gflops_per_thread\": %.2f, "
                  "\"min_gflops\": %.2f, \"max_gflops\": %.2f}",
                  i ? ", " : "", r.isa.c_str(), r.lanes, r.threads, r.gflops, r.gflops / r.threads, r.minGflops,
                  r.maxGflops);
    }
    std::printf("], \"unsupported\": [");
    for (size_t i = 0; i < unsupported.size(); ++i) std::printf("%s\"%s\"", i ? ", " : "", unsupported[i].c_str());
    std::printf("]}\n");
  }
  // Uses the results, so the loops are never dead code (always false).
  if (gSink.load() < -1.0) std::fprintf(stderr, "%g\n", gSink.load());
  return 0;
}
