#include "runtime/jit_executable.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <sys/mman.h>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "ir/batch_group.h"
#include "ir/layout.h"
#include "ir/printer.h"
#include "runtime/batch_chunks.h"
#include "runtime/jit.h"
#include "runtime/kernel_split.h"
#include "runtime/parallel_compile.h"
#include "runtime/thread_pool.h"

namespace cnnc {
namespace {

using KernelFunction = void (*)(std::byte* arena, int64_t begin, int64_t end);

struct Phase {
  KernelFunction function;
  int64_t tasks;
  bool split;       // across the pool's threads, if worthSplitting
  int64_t images;   // of the batch its tasks split (KernelPhase), or 0
};

struct Kernel {
  ValueId node;
  std::vector<Phase> phases;  // run in order (KernelPhase)
};

// What execute runs in turn: one kernel, or the kernels of a batch group
// (ir/batch_group.h), a chunk of the batch at a time (runtime/batch_chunks.h).
struct Step {
  std::vector<size_t> kernels;  // indices, in execution order
  int64_t chunks = 0;           // 0: the kernels one after the other
  std::vector<size_t> split{};  // by kernel: the phase that splits the batch
};

// The phase of `kernel` that splits the batch, if it has exactly one.
std::optional<size_t> splitPhase(const Kernel& kernel) {
  std::optional<size_t> found;
  for (size_t p = 0; p < kernel.phases.size(); ++p) {
    if (kernel.phases[p].images == 0) continue;
    if (found) return std::nullopt;
    found = p;
  }
  return found;
}

// The steps of `kernels`: consecutive kernels of one batch group make one,
// chunked if their phases allow it.
std::vector<Step> stepsOf(const Graph& graph, const std::vector<Kernel>& kernels) {
  std::vector<Step> steps;
  std::optional<std::string> open;
  for (size_t k = 0; k < kernels.size(); ++k) {
    const std::optional<std::string> group = batchGroupOf(graph.node(kernels[k].node));
    if (!group || group != open) steps.push_back({});
    steps.back().kernels.push_back(k);
    open = group;
  }
  for (Step& step : steps) {
    if (step.kernels.size() < 2) continue;
    std::vector<BatchSplit> splits;
    for (size_t k : step.kernels) {
      const std::optional<size_t> phase = splitPhase(kernels[k]);
      if (!phase) break;
      step.split.push_back(*phase);
      splits.push_back({kernels[k].phases[*phase].tasks, kernels[k].phases[*phase].images});
    }
    if (splits.size() == step.kernels.size()) step.chunks = batchChunks(splits);
  }
  return steps;
}

// The arena, in 2 MiB pages where it spans one and the kernel grants them
// (Linux's transparent huge pages, which Debian grants only on request):
// kernels stream through tensors of several MiB, and in 4 KiB pages every
// 64 cache lines cost a TLB miss and end the hardware prefetchers' streams.
// ResNet's training step at batch 128 runs about 3% faster (18.7 -> 18.1
// ms, medians of 10 alternating runs). Null when out of memory.
std::byte* allocateArena(size_t bytes) {
  constexpr size_t kLine = 64, kHugePage = size_t{2} << 20;
  const size_t alignment = bytes >= kHugePage ? kHugePage : kLine;
  const size_t rounded = std::max((bytes + alignment - 1) / alignment * alignment, alignment);
  void* arena = std::aligned_alloc(alignment, rounded);
  // Only advice: where it is refused, the arena keeps small pages.
  if (arena && alignment == kHugePage) madvise(arena, rounded, MADV_HUGEPAGE);
  return static_cast<std::byte*>(arena);
}

struct AlignedFree {
  void operator()(std::byte* p) const { std::free(p); }
};

class JitExecutable final : public Executable {
 public:
  JitExecutable(Graph graph, std::unique_ptr<Jit> jit, std::vector<Kernel> kernels, BufferLayout layout,
                std::shared_ptr<ThreadPool> pool)
      : Executable(std::move(graph)),
        jit_(std::move(jit)),
        kernels_(std::move(kernels)),
        steps_(stepsOf(this->graph(), kernels_)),
        layout_(std::move(layout)),
        pool_(std::move(pool)) {
    arena_.reset(allocateArena(static_cast<size_t>(layout_.arenaBytes)));
  }

  void startProfiling() override {
    profiling_ = true;
    profile_.clear();
    for (const Kernel& kernel : kernels_) profile_.push_back({kernel.node, 0, 0});
    // A chunked group's time goes to its first kernel.
    for (const Step& step : steps_)
      if (step.chunks > 0)
        for (size_t k = 1; k < step.kernels.size(); ++k)
          profile_[step.kernels.front()].with.push_back(kernels_[step.kernels[k]].node);
  }
  std::vector<KernelProfile> profile() const override { return profile_; }

 protected:
  // Leaves live in the arena between runs, in their physical layout: they
  // cross the boundary only here, when bound or read.
  Status store(ValueId id, const Tensor& value) override {
    if (!arena_) return Error{"out of memory for the arena"};
    const TensorType& type = graph().node(id).type;
    if (type.dtype == DType::F32) {
      toPhysical(type, value.data, {floats(id), value.data.size()});
      return Status::ok();
    }
    // Labels, which bind has checked: generated code trusts them.
    std::transform(value.data.begin(), value.data.end(), reinterpret_cast<int32_t*>(floats(id)),
                   [](float label) { return static_cast<int32_t>(label); });
    return Status::ok();
  }

  Tensor load(ValueId id) const override {
    const TensorType& type = graph().node(id).type;
    Tensor t(type.dims);
    if (type.dtype == DType::F32) {
      toLogical(type, {floats(id), t.data.size()}, t.data);
      return t;
    }
    if (type.dtype == DType::B1) {
      // A relu mask (ir/fused_relu_mask.h): its bits, in the layout's order,
      // as the reference executor's 1 and 0.
      const auto* bytes = reinterpret_cast<const uint8_t*>(floats(id));
      std::vector<float> physical(t.data.size());
      for (size_t i = 0; i < physical.size(); ++i) physical[i] = static_cast<float>(bytes[i / 8] >> (i % 8) & 1);
      toLogical(type, physical, t.data);
      return t;
    }
    const auto* labels = reinterpret_cast<const int32_t*>(floats(id));
    std::transform(labels, labels + t.data.size(), t.data.begin(), [](int32_t l) { return static_cast<float>(l); });
    return t;
  }

  Expected<std::vector<Tensor>> execute() override {
    for (const Step& step : steps_) {
      if (step.chunks > 0) {
        timed(step.kernels.front(), [&] { runChunked(step); });
        continue;
      }
      for (size_t k : step.kernels)
        timed(k, [&] {
          for (const Phase& phase : kernels_[k].phases) run(phase);
        });
    }
    std::vector<Tensor> outputs;
    for (ValueId id : graph().outputs()) outputs.push_back(load(id));
    return outputs;
  }

 private:
  // Runs `body`, timing it for kernel k's profile when profiling.
  template <typename Body>
  void timed(size_t k, const Body& body) {
    const auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    body();
    if (profiling_) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      profile_[k].seconds += seconds;
      profile_[k].fastest = std::min(profile_[k].fastest, seconds);
      ++profile_[k].calls;
    }
  }

  void run(const Phase& phase) {
    if (phase.split)
      pool_->parallelFor(
          phase.tasks, [&](int64_t begin, int64_t end) { phase.function(arena_.get(), begin, end); },
          phase.images > 0 ? nextOverTheBatch() : ThreadPool::Order::Ascending);
    else
      phase.function(arena_.get(), 0, phase.tasks);
  }

  // The order in which the threads take the images of the next kernel (or
  // batch group) that splits the batch: the opposite of the last one's, so
  // that each begins where it has just written (runtime/thread_pool.h).
  // Kernels between them that do not split the batch (a filter's
  // transform, the sums of a filter gradient's parts) keep no order.
  ThreadPool::Order nextOverTheBatch() {
    const ThreadPool::Order order = batchOrder_;
    batchOrder_ = order == ThreadPool::Order::Ascending ? ThreadPool::Order::Descending : ThreadPool::Order::Ascending;
    return order;
  }

  // A batch group: each kernel's phases before its split one, then the
  // chunks, each through every kernel's split phase in turn, then the
  // phases after (runtime/batch_chunks.h).
  void runChunked(const Step& step) {
    for (size_t i = 0; i < step.kernels.size(); ++i)
      for (size_t p = 0; p < step.split[i]; ++p) run(kernels_[step.kernels[i]].phases[p]);
    pool_->parallelFor(
        step.chunks,
        [&](int64_t begin, int64_t end) {
          for (int64_t chunk = begin; chunk < end; ++chunk)
            for (size_t i = 0; i < step.kernels.size(); ++i) {
              const Phase& phase = kernels_[step.kernels[i]].phases[step.split[i]];
              const auto [first, last] = chunkTasks(phase.tasks, step.chunks, chunk);
              phase.function(arena_.get(), first, last);
            }
        },
        nextOverTheBatch());
    for (size_t i = 0; i < step.kernels.size(); ++i) {
      const std::vector<Phase>& phases = kernels_[step.kernels[i]].phases;
      for (size_t p = step.split[i] + 1; p < phases.size(); ++p) run(phases[p]);
    }
  }

  float* floats(ValueId id) const { return reinterpret_cast<float*>(arena_.get() + layout_.offsets[id]); }

  std::unique_ptr<Jit> jit_;
  std::vector<Kernel> kernels_;
  std::vector<Step> steps_;
  BufferLayout layout_;
  std::shared_ptr<ThreadPool> pool_;
  std::unique_ptr<std::byte[], AlignedFree> arena_;
  bool profiling_ = false;
  ThreadPool::Order batchOrder_ = ThreadPool::Order::Ascending;  // nextOverTheBatch's
  std::vector<KernelProfile> profile_;  // by kernel
};

// The kernels as functions of `jit`, in execution order, from the object
// files of the code units: one lookup links them all.
Expected<std::vector<Kernel>> linkKernels(Jit& jit, std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects,
                                          const Graph& graph, const std::vector<KernelInfo>& infos) {
  for (std::unique_ptr<llvm::MemoryBuffer>& object : objects) CNNC_TRY(jit.addObject(std::move(object)));
  std::vector<std::string> symbols;
  for (const KernelInfo& info : infos)
    for (const KernelPhase& phase : info.phases) symbols.push_back(phase.symbol);
  Expected<std::vector<void*>> addresses = jit.lookup(symbols);
  if (!addresses) return addresses.error();
  std::vector<Kernel> kernels;
  size_t next = 0;
  for (const KernelInfo& info : infos) {
    Kernel kernel{info.node, {}};
    for (const KernelPhase& phase : info.phases)
      kernel.phases.push_back({reinterpret_cast<KernelFunction>((*addresses)[next++]), phase.tasks,
                               worthSplitting(graph, info.node, phase.tasks), phase.images});
    kernels.push_back(std::move(kernel));
  }
  return kernels;
}

// `graph`'s kernels as object files for `target`, with what generated them.
struct MachineCode {
  GeneratedCode code;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects;
};

Expected<MachineCode> generateMachineCode(const Graph& graph, const Target& target, PhaseTimes* times,
                                          ThreadPool& pool) {
  for (const Node& node : graph.nodes())
    if (isLeaf(node.op) && node.type.dtype != DType::F32 && node.type.dtype != DType::I32)
      return Error{fmt::format("generated code takes f32 and i32 inputs only, {} is {}", valueRef(node.name),
                               toString(node.type))};
  Expected<GeneratedCode> code = [&] {
    PhaseTimer timer(times, "codegen");
    return generateCode(graph, target, codeUnitsFor(pool));
  }();
  if (!code) return code.error();
  {
    PhaseTimer timer(times, "llvm-O3");
    CNNC_TRY(optimizeUnits(code->units, target, pool));
  }
  PhaseTimer timer(times, "machine-code");
  Expected<std::vector<std::unique_ptr<llvm::MemoryBuffer>>> objects = compileUnits(code->units, target, pool);
  if (!objects) return objects.error();
  return MachineCode{std::move(*code), std::move(*objects)};
}

Expected<std::unique_ptr<Executable>> compile(Graph graph, const Target& target, PhaseTimes* times,
                                              std::shared_ptr<ThreadPool> pool) {
  Expected<MachineCode> machineCode = generateMachineCode(graph, target, times, *pool);
  if (!machineCode) return machineCode.error();
  PhaseTimer timer(times, "jit-link");
  Expected<std::unique_ptr<Jit>> jit = Jit::create(target);
  if (!jit) return jit.error();
  Expected<std::vector<Kernel>> kernels =
      linkKernels(**jit, std::move(machineCode->objects), graph, machineCode->code.kernels);
  if (!kernels) return kernels.error();
  return std::unique_ptr<Executable>(std::make_unique<JitExecutable>(
      std::move(graph), std::move(*jit), std::move(*kernels), std::move(machineCode->code.layout), std::move(pool)));
}

}  // namespace

Status compileWithoutLoading(const Graph& graph, const Target& target, PhaseTimes* times) {
  ThreadPool pool(0);
  Expected<MachineCode> machineCode = generateMachineCode(graph, target, times, pool);
  if (!machineCode) return machineCode.error();
  return Status::ok();
}

Backend jitBackend(const Target& target, PhaseTimes* times, int threads) {
  auto pool = std::make_shared<ThreadPool>(threads);
  return [target, times, pool](Graph graph) { return compile(std::move(graph), target, times, pool); };
}

}  // namespace cnnc
