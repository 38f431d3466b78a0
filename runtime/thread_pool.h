// The runtime's threads: a fixed pool that splits each kernel's task range
// [0, tasks) into contiguous chunks, a few per thread, which the calling
// thread and the workers claim in turn. The calling thread works too, so N
// threads means N - 1 workers and no oversubscription.
//
// A training step runs dozens of kernels back to back, many of them tens
// of microseconds long, and waking a sleeping thread (a futex wake, a
// context switch: 10-50 us on a virtual machine) costs as much as running
// one. So a worker that has finished a job spins for a short while
// (kSpinTime, thread_pool.cpp) watching for the next one before it sleeps
// on a condition variable, and the caller spins the same while before it
// sleeps waiting for the last chunk; both sleep when the pool is idle for
// longer (between epochs, while the user's program does something else).
// Spinning threads yield the processor every microsecond or so, so that
// with more threads than cores (--threads 8 on 2) the ones with work get
// it: the seed's step took 4.5 ms so without yielding, 1.9 with.
// Because the caller claims whatever chunks no worker has started, a worker
// that wakes late (the machine is busy) delays nothing: the caller never
// waits for a thread to wake up, only for chunks already running.
#pragma once

#include <atomic>
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
  using Body = std::function<void(int64_t, int64_t)>;
  void work();
  // Claims and runs chunks of job `generation` until none is left.
  void runChunks(uint32_t generation);

  std::vector<std::thread> workers_;

  // The current job. The caller writes body_ and tasks_ only when every
  // chunk of the previous job has finished, then publishes them with
  // ticket_. A thread reads them only once it has claimed a chunk: until
  // that chunk finishes, the job cannot end and they cannot change. (Read
  // before the claim, they could already be the next job's, while the claim
  // still saw this one's ticket.)
  std::atomic<const Body*> body_{nullptr};
  std::atomic<int64_t> tasks_{0};
  // The job's generation (bits 32-63), its count of chunks (16-31) and its
  // first unclaimed chunk (0-15): one word, so that a claim checks the
  // chunk against its own job's count.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int64_t> unfinished_{0};  // chunks of the job not finished
  std::atomic<bool> stopping_{false};

  // For sleeping only: who sleeps, written under mutex_ and read without it
  // by the thread that may have to wake them (parallelFor).
  std::mutex mutex_;
  std::condition_variable wake_;  // workers, for a new job or stopping
  std::condition_variable done_;  // the caller, for the job's last chunk
  std::atomic<int> sleepingWorkers_{0};
  std::atomic<bool> callerSleeps_{false};
};

}  // namespace cnnc
