#include "runtime/thread_pool.h"

#include <algorithm>

namespace cnnc {
namespace {

// More chunks than threads, so that the threads that run take over the work
// of one that does not (another process has its core); few enough that
// claiming them costs nothing next to running them.
constexpr int64_t kChunksPerThread = 4;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::parallelFor(int64_t tasks, const std::function<void(int64_t, int64_t)>& body) {
  if (workers_.empty() || tasks < 2) {
    body(0, tasks);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  body_ = &body;
  tasks_ = tasks;
  chunks_ = std::min(tasks, size() * kChunksPerThread);
  nextChunk_ = 0;
  ++generation_;
  lock.unlock();
  wake_.notify_all();
  lock.lock();
  runChunks(lock);
  done_.wait(lock, [this] { return running_ == 0; });
  body_ = nullptr;
}

void ThreadPool::runChunks(std::unique_lock<std::mutex>& lock) {
  while (nextChunk_ < chunks_) {
    const int64_t chunk = nextChunk_++;
    const int64_t begin = tasks_ * chunk / chunks_, end = tasks_ * (chunk + 1) / chunks_;
    const auto* body = body_;
    ++running_;
    lock.unlock();
    (*body)(begin, end);
    lock.lock();
    --running_;
  }
  // The caller may be waiting for the last chunk to finish.
  if (running_ == 0) done_.notify_one();
}

void ThreadPool::work() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    runChunks(lock);
  }
}

}  // namespace cnnc
