// The runtime's threads: a fixed pool that splits each kernel's task range
// [0, tasks) into contiguous chunks, a few per thread, which the calling
// thread and the workers claim in turn. The calling thread works too, so N
// threads means N - 1 workers and no oversubscription; idle workers sleep on
// a condition variable rather than spin. Because the caller claims whatever
// chunks no worker has started, a worker that wakes late (the machine is
// busy, or the kernel is short) delays nothing: the caller never waits for a
// thread to wake up, only for chunks already running.
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
  void work();
  // Runs chunks of the current job until none is left to claim; `lock`
  // holds mutex_ on entry and on exit.
  void runChunks(std::unique_lock<std::mutex>& lock);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current job, guarded by mutex_.
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t tasks_ = 0;
  int64_t chunks_ = 0;
  int64_t nextChunk_ = 0;    // the first chunk nobody has claimed
  int running_ = 0;          // chunks claimed by workers and not finished
  uint64_t generation_ = 0;  // counts jobs, so that a worker wakes once per job
  bool stopping_ = false;
};

}  // namespace cnnc
