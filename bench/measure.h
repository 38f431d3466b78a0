// What the machine measurements in bench/ (cnnc-fma-peak,
// cnnc-mem-bandwidth) share: work released on N threads at once and timed
// to the last one's end, medians, and their command lines.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

namespace measure {

using Clock = std::chrono::steady_clock;

// Runs body(t) on threads t = 0..threads-1, all released at once; returns
// the wall time from the release to the last thread's end.
inline double timeThreads(int threads, const std::function<void(int)>& body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Clock::time_point> ends(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(t);
      ends[static_cast<size_t>(t)] = Clock::now();
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const Clock::time_point start = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& worker : workers) worker.join();
  return std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
}

// The median of a measurement's runs, and their range.
struct Spread {
  double median, min, max;
};

inline Spread spreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return {n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2, values.front(), values.back()};
}

// Prints `text` (to stderr for an error) and exits with `code`.
[[noreturn]] inline void usage(int code, const char* text) {
  std::fputs(text, code ? stderr : stdout);
  std::exit(code);
}

// A positive integer, or exit 2 with a one-line message naming `tool` and `what`.
inline long parsePositive(const char* tool, const char* text, const char* what) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (!end || *end != '\0' || value <= 0) {
    std::fprintf(stderr, "%s: %s: expected a positive integer, got '%s'\n", tool, what, text);
    std::exit(2);
  }
  return value;
}

// A number in (0, limit], or exit 2 likewise.
inline double parseNumber(const char* tool, const char* text, const char* what, double limit) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (!end || end == text || *end != '\0' || !(value > 0) || value > limit) {
    std::fprintf(stderr, "%s: %s: expected a number in (0, %g], got '%s'\n", tool, what, limit, text);
    std::exit(2);
  }
  return value;
}

}  // namespace measure
