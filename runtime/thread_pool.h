// The runtime's threads: a fixed pool that splits each kernel's task range
// [0, tasks) into contiguous chunks, a few per thread. The calling thread
// works too, so N threads means N - 1 workers and no oversubscription.
//
// Each thread owns a run of consecutive chunks of every job, the same run
// each time, which it claims from the end the caller names: the runtime
// alternates them from one kernel over the batch to the next, so that a
// thread begins each such kernel on the images where it ended the one
// before, which that kernel has just written into its own core's caches
// and the next one reads (a serpentine order over the batch). A thread
// that has run out of its own chunks takes the others' from their far
// ends, so that the threads that run take over the work of one that does
// not (another process has its core) without disturbing its order.
// Against chunks claimed in turn from one counter, in paired steps (odd
// steps one way, even the other, in one process; AMD EPYC, 2 cores):
// ResNet's training step at batch 128 0.5-1% faster in quiet spells (36-37
// ms a step), 3.5-4% in slow ones (40 ms), where other tenants contend for
// the shared L3 and memory; with the runs claimed from their first chunk
// every time, 0-0.5%. The seed's step at batch 32 1-2.5% faster. ResNet's
// inference at batch 128 0.8-1.7% slower in quiet spells, 2-3.5% faster in
// slow ones; the seed's at batch 1 and 256 as fast or faster. (Those runs
// alternated the order at every job, small ones between kernels over the
// batch too; alternating only between kernels over the batch took ResNet's
// step another 0.5-1% less: 0.988-0.995 in three runs of paired steps.)
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
// Because the caller takes whatever chunks no worker has started, a worker
// that wakes late (the machine is busy) delays nothing: the caller never
// waits for a thread to wake up, only for chunks already running.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

  // Which end of its run each thread claims first.
  enum class Order { Ascending, Descending };

  // Calls body(begin, end) on disjoint chunks covering [0, tasks), in
  // parallel, each thread its own run in `order` first, and returns when
  // all are done.
  void parallelFor(int64_t tasks, const std::function<void(int64_t, int64_t)>& body, Order order = Order::Ascending);

 private:
  using Body = std::function<void(int64_t, int64_t)>;
  void work(size_t self);
  // Runs chunks of job `generation` as thread `self` (0: the caller): its
  // own, then the others', until none is left.
  void runChunks(size_t self, uint32_t generation);
  // Claims a chunk of the run of thread `owner` for job `generation` as
  // that thread (from the job's end) or another (from the far end).
  std::optional<int64_t> claim(size_t owner, uint32_t generation, bool asOwner);

  std::vector<std::thread> workers_;

  // The current job. The caller writes body_, tasks_ and order_ only when
  // every chunk of the previous job has finished, then publishes the runs
  // and then generation_. A thread reads them only once it has claimed a
  // chunk: until that chunk finishes, the job cannot end and they cannot
  // change. (Read before the claim, they could already be the next job's,
  // while the claim still saw this one's run.)
  std::atomic<const Body*> body_{nullptr};
  std::atomic<int64_t> tasks_{0};
  std::atomic<Order> order_{Order::Ascending};
  std::atomic<uint32_t> generation_{0};
  // Each thread's run of the job's chunks: the job's generation (bits
  // 32-63), its first unclaimed chunk (16-31) and one past its last (0-15),
  // one word, so that a claim checks the chunk against its own job's run.
  // A cache line each: the owner claims from it alone, but for thefts.
  struct alignas(64) Run {
    std::atomic<uint64_t> word{0};
  };
  std::unique_ptr<Run[]> runs_;
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
