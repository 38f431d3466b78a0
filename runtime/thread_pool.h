// The runtime's threads: a fixed pool that splits each kernel's task range
// [0, tasks) into one contiguous chunk per thread. The calling thread works
// on the first chunk itself, so N threads means N - 1 workers and no
// oversubscription; idle workers sleep on a condition variable rather than
// spin.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cnnc {

class ThreadPool {
 public:
  // `threads` <= 0: one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(begin, end) on disjoint chunks covering [0, tasks), in
  // parallel, and returns when all are done.
  void parallelFor(int64_t tasks, const std::function<void(int64_t, int64_t)>& body);

 private:
  void work(int index);
  // The chunk of [0, tasks) that thread `index` of size() runs.
  std::pair<int64_t, int64_t> chunk(int index) const;

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t tasks_ = 0;
  uint64_t generation_ = 0;  // counts jobs, so a worker runs each job once
  int pending_ = 0;          // workers still on the current job
  bool stopping_ = false;
};

}  // namespace cnnc
