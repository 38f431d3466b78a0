// How long each phase of compiling took: `--time-passes` prints it, and
// `cnnc compile` reports the total. A PhaseTimer adds the time of its scope.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace cnnc {

class PhaseTimes {
 public:
  void add(std::string phase, double seconds) { phases_.emplace_back(std::move(phase), seconds); }
  const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }
  double total() const {
    double sum = 0;
    for (const auto& phase : phases_) sum += phase.second;
    return sum;
  }

 private:
  std::vector<std::pair<std::string, double>> phases_;
};

// Records the time from construction to destruction as `phase`, when `times`
// is not null.
class PhaseTimer {
 public:
  PhaseTimer(PhaseTimes* times, std::string phase)
      : times_(times), phase_(std::move(phase)), start_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() {
    if (times_) times_->add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  PhaseTimes* times_;
  std::string phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace cnnc
