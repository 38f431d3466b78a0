#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>

#include <immintrin.h>

namespace cnnc {
namespace {

// More chunks than threads, so that the threads that run take over the work
// of one that does not (another process has its core); few enough that
// claiming them costs nothing next to running them, and that each thread
// streams through long runs of its kernels' tensors. (ResNet's training
// step at batch 128, alternating runs against 4: 16 took 16.74 against
// 16.51 ms, slower in 7 of 8; 2 took 16.15 against 16.12.)
constexpr int64_t kChunksPerThread = 4;

// How long a thread spins for the event it waits for before it sleeps:
// longer than the gaps between the kernels of a step (a few microseconds)
// and than a futex wake-up, short enough that an idle pool costs nothing
// measurable.
constexpr std::chrono::microseconds kSpinTime{200};

// The ticket's fields (ThreadPool::ticket_).
constexpr int64_t kMaxChunks = 0xffff;
uint32_t generationOf(uint64_t ticket) { return static_cast<uint32_t>(ticket >> 32); }
int64_t chunkCountOf(uint64_t ticket) { return static_cast<int64_t>((ticket >> 16) & kMaxChunks); }
int64_t chunkOf(uint64_t ticket) { return static_cast<int64_t>(ticket & kMaxChunks); }
uint64_t ticketOf(uint32_t generation, int64_t chunks) {
  return static_cast<uint64_t>(generation) << 32 | static_cast<uint64_t>(chunks) << 16;
}

// Spins until `ready()` or kSpinTime has passed; whether it is ready.
template <typename Ready>
bool spinUntil(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int polls = 1;; ++polls) {
    if (ready()) return true;
    _mm_pause();
    // The clock costs more than a poll: read it every few. Then yield too:
    // a thread that the one spinning here waits for may be waiting for its
    // core (more threads than cores, or a busy machine).
    if (polls % 64 == 0) {
      if (std::chrono::steady_clock::now() > deadline) return ready();
      std::this_thread::yield();
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::parallelFor(int64_t tasks, const Body& body) {
  if (workers_.empty() || tasks < 2) {
    body(0, tasks);
    return;
  }
  const int64_t chunks = std::min({tasks, size() * kChunksPerThread, kMaxChunks});
  body_.store(&body, std::memory_order_relaxed);
  tasks_.store(tasks, std::memory_order_relaxed);
  unfinished_.store(chunks, std::memory_order_relaxed);
  const uint32_t generation = generationOf(ticket_.load(std::memory_order_relaxed)) + 1;
  // Sequentially consistent, as sleepingWorkers_ and callerSleeps_ and what
  // their sleepers check: a thread that goes to sleep announces it, then
  // checks for its event; the thread that makes the event then sees the
  // announcement and wakes it, or the sleeper sees the event. So the
  // mutex is taken only where somebody sleeps, not for every kernel.
  ticket_.store(ticketOf(generation, chunks));
  if (sleepingWorkers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  runChunks(generation);
  auto finished = [this] { return unfinished_.load() == 0; };
  if (spinUntil(finished)) return;
  std::unique_lock<std::mutex> lock(mutex_);
  callerSleeps_.store(true);
  done_.wait(lock, finished);
  callerSleeps_.store(false);
}

void ThreadPool::runChunks(uint32_t generation) {
  uint64_t ticket = ticket_.load(std::memory_order_acquire);
  while (generationOf(ticket) == generation && chunkOf(ticket) < chunkCountOf(ticket)) {
    if (!ticket_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    // Claimed: the job's fields stay its own until this chunk finishes.
    const Body* body = body_.load(std::memory_order_relaxed);
    const int64_t tasks = tasks_.load(std::memory_order_relaxed);
    const int64_t chunk = chunkOf(ticket), chunks = chunkCountOf(ticket);
    (*body)(tasks * chunk / chunks, tasks * (chunk + 1) / chunks);
    // The job's last chunk: the caller may be asleep waiting for it.
    if (unfinished_.fetch_sub(1) == 1 && callerSleeps_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
    ticket = ticket_.load(std::memory_order_acquire);
  }
}

void ThreadPool::work() {
  uint32_t seen = 0;
  for (;;) {
    auto newJob = [&] { return stopping_.load() || generationOf(ticket_.load()) != seen; };
    if (!spinUntil(newJob)) {
      std::unique_lock<std::mutex> lock(mutex_);
      ++sleepingWorkers_;
      wake_.wait(lock, newJob);
      --sleepingWorkers_;
    }
    if (stopping_.load()) return;
    seen = generationOf(ticket_.load());
    runChunks(seen);
  }
}

}  // namespace cnnc
