#include "runtime/parallel_compile.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <numeric>

#include "compiler/codegen/llvm_pipeline.h"

namespace cnnc {
namespace {

// Runs work(unit, machine) for every unit on the pool's threads, each with a
// TargetMachine of its own (they are not thread-safe) and taking units from
// a shared counter, so that a thread that drew light units takes more of
// them; the largest first, so that the last to start are small ones. The
// first error is the result.
Status forEachUnit(const std::vector<CodeUnit>& codeUnits, const Target& target, ThreadPool& pool,
                   const std::function<Status(size_t, llvm::TargetMachine&)>& work) {
  const size_t units = codeUnits.size();
  std::vector<size_t> largestFirst(units);
  std::iota(largestFirst.begin(), largestFirst.end(), size_t{0});
  std::stable_sort(largestFirst.begin(), largestFirst.end(),
                   [&](size_t a, size_t b) { return codeUnits[a].instructions > codeUnits[b].instructions; });
  std::atomic<size_t> next = 0;
  std::mutex mutex;
  Status result;
  auto fail = [&](const Error& error) {
    std::lock_guard<std::mutex> lock(mutex);
    if (result) result = error;
  };
  const auto threads = std::min<int64_t>(pool.size(), static_cast<int64_t>(units));
  pool.parallelFor(threads, [&](int64_t, int64_t) {
    Expected<std::unique_ptr<llvm::TargetMachine>> machine = createTargetMachine(target);
    if (!machine) return fail(machine.error());
    for (size_t taken = next++; taken < units; taken = next++)
      if (Status done = work(largestFirst[taken], **machine); !done) return fail(done.error());
  });
  return result;
}

}  // namespace

// One thread compiles one module: there is nothing to balance. Otherwise a
// few units per thread: one apiece would leave a thread idle when its unit
// is the cheaper, and many small ones would pay LLVM's fixed cost per
// module (its pass pipelines) too often; four cost no measurable time.
size_t codeUnitsFor(const ThreadPool& pool) {
  const auto threads = static_cast<size_t>(pool.size());
  return threads == 1 ? 1 : 4 * threads;
}

Status optimizeUnits(std::vector<CodeUnit>& units, const Target& target, ThreadPool& pool) {
  return forEachUnit(units, target, pool, [&](size_t unit, llvm::TargetMachine& machine) {
    optimizeModule(*units[unit].module, machine);
    return Status::ok();
  });
}

Expected<std::vector<std::unique_ptr<llvm::MemoryBuffer>>> compileUnits(std::vector<CodeUnit>& units,
                                                                        const Target& target, ThreadPool& pool) {
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects(units.size());
  CNNC_TRY(forEachUnit(units, target, pool, [&](size_t unit, llvm::TargetMachine& machine) -> Status {
    Expected<std::unique_ptr<llvm::MemoryBuffer>> object = emitObject(*units[unit].module, machine);
    if (!object) return object.error();
    objects[unit] = std::move(*object);
    return Status::ok();
  }));
  return objects;
}

}  // namespace cnnc
