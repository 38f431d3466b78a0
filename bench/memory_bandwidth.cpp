// cnnc-mem-bandwidth: how many bytes a second the machine's caches and
// memory move to and from its cores, measured: the other side of a roofline
// next to cnnc-fma-peak's FLOPs, read against the traffic that
// `cnnc bench --per-op` reports per kernel (compiler/traffic.h).
//
// Each thread streams through buffers of its own, of each working set asked
// for (--mib, per thread): so that a few hundred KiB stay in its L2, a few
// MiB in the shared L3, and hundreds of MiB come from memory. Three loops,
// as kernels move data: read (sums of vectors), write (vectors stored, each
// line fetched first as an ordinary store does, which counts as the bytes
// written only) and copy (read one buffer, write another: both count).
// Each figure is the median of R runs, each passing over the buffers often
// enough to take about --seconds, after a warm-up run that also touches
// every page.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/measure.h"

namespace {

constexpr const char* kTool = "cnnc-mem-bandwidth";

// 64 bytes: a cache line, a vector of the widest ISA the clone runs on.
typedef float Line __attribute__((vector_size(64)));

// Volatile so that the compiler can neither fold the loops nor drop them.
volatile float gSink = 0;

// The loops come in clones for AVX-512, AVX2 and the baseline, chosen at
// load time for the host, so the binary runs on any x86-64 and moves whole
// vectors on the ones cnnc generates code for.
__attribute__((target_clones("avx512f", "avx2", "default"), noinline)) float readLines(const Line* lines, int64_t n) {
  // Chains enough to cover the add's latency at two loads a cycle.
  constexpr int kChains = 8;
  Line sums[kChains] = {};
  for (int64_t i = 0; i + kChains <= n; i += kChains)
    for (int k = 0; k < kChains; ++k) sums[k] += lines[i + k];
  for (int k = 1; k < kChains; ++k) sums[0] += sums[k];
  return sums[0][0] + sums[0][15];
}

__attribute__((target_clones("avx512f", "avx2", "default"), noinline)) void writeLines(Line* lines, int64_t n,
                                                                                        float v) {
  const Line value = Line{} + v;
  for (int64_t i = 0; i < n; ++i) lines[i] = value;
}

__attribute__((target_clones("avx512f", "avx2", "default"), noinline)) void copyLines(Line* to, const Line* from,
                                                                                       int64_t n) {
  for (int64_t i = 0; i < n; ++i) to[i] = from[i];
}

enum class Loop { Read, Write, Copy };
constexpr const char* kLoopNames[] = {"read", "write", "copy"};

struct Buffers {
  std::unique_ptr<Line[]> from, to;
  int64_t lines;
};

// One pass of `loop` over a thread's buffers; the bytes it moves.
int64_t pass(Loop loop, Buffers& b, int round) {
  switch (loop) {
    case Loop::Read: gSink = gSink + readLines(b.from.get(), b.lines); return b.lines * 64;
    case Loop::Write: writeLines(b.to.get(), b.lines, static_cast<float>(round)); return b.lines * 64;
    case Loop::Copy: copyLines(b.to.get(), b.from.get(), b.lines); return 2 * b.lines * 64;
  }
  return 0;
}

struct Result {
  double mib;
  measure::Spread gbps[3];  // per Loop
};

Result measureSet(double mibPerThread, int threads, int runs, double seconds) {
  const auto lines = std::max<int64_t>(8, static_cast<int64_t>(mibPerThread * 1048576 / 64) / 8 * 8);
  std::vector<Buffers> buffers;
  for (int t = 0; t < threads; ++t)
    buffers.push_back({std::make_unique<Line[]>(static_cast<size_t>(lines)),
                       std::make_unique<Line[]>(static_cast<size_t>(lines)), lines});
  Result result{mibPerThread, {}};
  for (Loop loop : {Loop::Read, Loop::Write, Loop::Copy}) {
    // Passes a run: enough for `seconds`, from one timed pass after warming.
    auto run = [&](int64_t passes) {
      std::vector<int64_t> bytes(static_cast<size_t>(threads));
      const double elapsed = measure::timeThreads(threads, [&](int t) {
        const auto at = static_cast<size_t>(t);
        for (int64_t p = 0; p < passes; ++p) bytes[at] += pass(loop, buffers[at], static_cast<int>(p));
      });
      int64_t total = 0;
      for (int64_t b : bytes) total += b;
      return std::pair{elapsed, static_cast<double>(total) / elapsed / 1e9};
    };
    run(1);
    const int64_t passes = std::max<int64_t>(1, static_cast<int64_t>(seconds / run(1).first));
    std::vector<double> gbps;
    for (int r = 0; r < runs; ++r) gbps.push_back(run(passes).second);
    result.gbps[static_cast<size_t>(loop)] = measure::spreadOf(gbps);
  }
  return result;
}

constexpr const char* kUsage =
    "usage: cnnc-mem-bandwidth [--threads N] [--runs R] [--seconds S] [--mib A,B,...] [--json]\n"
    "Measures read, write and copy bandwidth (GB/s, bytes read plus written) on N threads\n"
    "(default: all hardware threads), each streaming through working sets of A, B, ... MiB\n"
    "of its own (default 0.5,8,256), median of R runs (default 5) of about S seconds (default 0.1).\n";

std::vector<double> parseSizes(const std::string& text) {
  std::vector<double> sizes;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    sizes.push_back(measure::parseNumber(kTool, text.substr(start, comma - start).c_str(), "--mib", 16384));
    start = comma + 1;
  }
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int runs = 5;
  double seconds = 0.1;
  std::vector<double> sizes = {0.5, 8, 256};
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", kTool, arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") {
      threads = static_cast<int>(measure::parsePositive(kTool, value(), "--threads"));
    } else if (arg == "--runs") {
      runs = static_cast<int>(measure::parsePositive(kTool, value(), "--runs"));
    } else if (arg == "--seconds") {
      seconds = measure::parseNumber(kTool, value(), "--seconds", 60);
    } else if (arg == "--mib") {
      sizes = parseSizes(value());
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      measure::usage(0, kUsage);
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s'\n", kTool, arg.c_str());
      measure::usage(2, kUsage);
    }
  }
  std::vector<Result> results;
  for (double mib : sizes) {
    results.push_back(measureSet(mib, threads, runs, seconds));
    const Result& r = results.back();
    if (json) continue;
    std::printf("threads=%d mib_per_thread=%g", threads, r.mib);
    for (int loop = 0; loop < 3; ++loop)
      std::printf(" %s=%.1f (%.1f-%.1f)", kLoopNames[loop], r.gbps[loop].median, r.gbps[loop].min, r.gbps[loop].max);
    std::printf(" GB/s\n");
    std::fflush(stdout);
  }
  if (json) {
    std::printf("{\"threads\": %d, \"runs\": %d, \"seconds_per_run\": %.3f, \"results\": [", threads, runs, seconds);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("%s{\"mib_per_thread\": %g", i ? ", " : "", r.mib);
      for (int loop = 0; loop < 3; ++loop)
        std::printf(", \"%s_gbps\": %.2f, \"%s_min_gbps\": %.2f, \"%s_max_gbps\": %.2f", kLoopNames[loop],
                    r.gbps[loop].median, kLoopNames[loop], r.gbps[loop].min, kLoopNames[loop], r.gbps[loop].max);
      std::printf("}");
    }
    std::printf("]}\n");
  }
  return 0;
}
