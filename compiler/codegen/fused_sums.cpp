#include "compiler/codegen/fused_sums.h"

#include "compiler/codegen/channel_sums.h"
#include "ir/fused_bias_gradient.h"
#include "ir/fused_statistics.h"

namespace cnnc {

using blocked::add;

int64_t fusedSumVectors(const Graph& graph, const Node& node) {
  if (node.op != Op::Conv2D && node.op != Op::Conv2DBackwardData) return 0;
  if (fusedStatistics(graph, node)) return 4;
  const size_t gammas = fusedGammaGradients(graph, node).size();
  return gammas > 0 ? static_cast<int64_t>(gammas) + 1 : 0;
}

FusedSums::FusedSums(KernelBuilder& kb, ValueId id, const blocked::RowsTasks& tasks)
    : kb_(kb),
      ir_(kb.ir()),
      id_(id),
      tasks_(tasks),
      y_(kb.dims(id)),
      b_(kb.width()),
      elements_(*elementCount(kb.graph().node(id).type)),
      stats_(fusedStatistics(kb.graph(), kb.graph().node(id))),
      gammas_(fusedGammaGradients(kb.graph(), kb.graph().node(id))),
      sumVectors_(fusedSumVectors(kb.graph(), kb.graph().node(id))) {}

void FusedSums::sumTask(const blocked::RowsTask& task) {
  if (stats_) sumStatistics(task);
  if (!gammas_.empty()) sumGammaGradients(task);
}

std::vector<ValueId> FusedSums::operands() const {
  std::vector<ValueId> inputs;
  for (ValueId gamma : gammas_) inputs.push_back(kb_.graph().node(gamma).operands[1]);
  return inputs;
}

int64_t FusedSums::addTasks(int64_t tasks) {
  if (sumVectors_ == 0) return tasks;
  kb_.nextPhase(tasks);
  if (stats_) addStatistics();
  if (!gammas_.empty()) addGammaGradients();
  return 1;
}

// In the workspace: per task and block of its group, sumVectors_ vectors.
llvm::Value* FusedSums::partial(llvm::Value* task, llvm::Value* block, int64_t vector) {
  llvm::Value* slot = ir_.CreateAdd(ir_.CreateMul(task, kb_.i64(tasks_.groupBlocks)), block);
  return ir_.CreateAdd(kb_.i64(elements_ + vector * b_), ir_.CreateMul(slot, kb_.i64(sumVectors_ * b_)));
}

// The independent chains of sums over a block's vectors: with one, each
// vector's terms waited for the previous one's adds (ResNet at batch 128,
// block1's convolutions spent 0.1 of their 1.0 ms in their statistics).
constexpr int64_t kChains = 4;

// The task's sums over its rows, just written and still in cache (in each
// block's plane they are one contiguous run of vectors), stored in the
// workspace: per block k of its group, `count` accumulators that
// termsOf(k, first) adds each vector's terms to (given its index; `first`
// is the block's first), and the vectors stored(vectors, sums) gives,
// `vectors` the count of vectors summed. Vector v goes to chain v %
// kChains (the last vectors short of a whole round to the first), and the
// chains are added in a fixed order.
void FusedSums::sumRows(const blocked::RowsTask& task, size_t count,
                        const std::function<Terms(int64_t, llvm::Value*)>& termsOf,
                        const std::function<std::vector<llvm::Value*>(llvm::Value*, Accumulators&)>& stored) {
  llvm::Value* vectors = ir_.CreateMul(ir_.CreateSub(task.endRow, task.firstRow), kb_.i64(y_[3]));
  for (int64_t k = 0; k < tasks_.groupBlocks; ++k) {
    llvm::Value* plane = ir_.CreateAdd(ir_.CreateMul(task.n, kb_.i64(tasks_.blocks)), add(kb_, task.firstBlock, k));
    llvm::Value* pixel = kb_.index({plane, task.firstRow, kb_.i64(0)}, {y_[0] * tasks_.blocks, y_[2], y_[3]});
    llvm::Value* first = ir_.CreateMul(pixel, kb_.i64(b_));
    const Terms terms = termsOf(k, first);
    Accumulators sums(kb_, count * kChains, [&](size_t) { return kb_.f32(0.0); });
    auto at = [&](llvm::Value* v) { return ir_.CreateAdd(first, ir_.CreateMul(v, kb_.i64(b_))); };
    llvm::Value* rounds = ir_.CreateSDiv(vectors, kb_.i64(kChains));
    kb_.loop(kb_.i64(0), rounds, [&](llvm::Value* round) {
      for (int64_t chain = 0; chain < kChains; ++chain)
        terms(sums, static_cast<size_t>(chain) * count, at(add(kb_, ir_.CreateMul(round, kb_.i64(kChains)), chain)));
    });
    kb_.loop(ir_.CreateMul(rounds, kb_.i64(kChains)), vectors, [&](llvm::Value* v) { terms(sums, 0, at(v)); });
    for (size_t s = 0; s < count; ++s)
      for (size_t chain = 1; chain < static_cast<size_t>(kChains); ++chain)
        sums.set(s, ir_.CreateFAdd(sums.get(s), sums.get(chain * count + s)));
    const std::vector<llvm::Value*> values = stored(vectors, sums);
    for (size_t vector = 0; vector < values.size(); ++vector)
      kb_.storeVector(id_, partial(task.index, kb_.i64(k), static_cast<int64_t>(vector)), values[vector]);
  }
}

// Statistics: the shift K (the block's first element in the task), the
// sums of y - K and of its square, and their count. The shift keeps the
// squares from cancelling against the mean's where the mean is large
// beside the spread (as batch_norm_stats does).
void FusedSums::sumStatistics(const blocked::RowsTask& task) {
  llvm::Value* shift = nullptr;
  sumRows(task, 2, [&](int64_t, llvm::Value* first) -> Terms {
    shift = kb_.loadVector(id_, first, b_);
    return [&](Accumulators& sums, size_t base, llvm::Value* index) {
      llvm::Value* d = ir_.CreateFSub(kb_.loadVector(id_, index, b_), shift);
      sums.set(base, ir_.CreateFAdd(sums.get(base), d));
      sums.fma(base + 1, d, d);
    };
  }, [&](llvm::Value* vectors, Accumulators& sums) {
    return std::vector<llvm::Value*>{shift, sums.get(0), sums.get(1),
                                     kb_.splat(ir_.CreateSIToFP(vectors, ir_.getFloatTy()))};
  });
}

// Gamma gradients: the sums of dy * (x - mean) for each, x its batch
// norm's input (of the result's type), and of dy (the result), in one pass.
void FusedSums::sumGammaGradients(const blocked::RowsTask& task) {
  const size_t count = gammas_.size();
  std::vector<llvm::Value*> means(count);
  sumRows(task, count + 1, [&](int64_t k, llvm::Value*) -> Terms {
    llvm::Value* at = ir_.CreateMul(add(kb_, task.firstBlock, k), kb_.i64(b_));
    for (size_t g = 0; g < count; ++g) means[g] = kb_.loadVector(kb_.graph().node(gammas_[g]).operands[2], at, b_);
    return [&](Accumulators& sums, size_t base, llvm::Value* index) {
      llvm::Value* dy = kb_.loadVector(id_, index, b_);
      for (size_t g = 0; g < count; ++g) {
        llvm::Value* x = kb_.loadVector(kb_.graph().node(gammas_[g]).operands[1], index, b_);
        sums.fma(base + g, dy, ir_.CreateFSub(x, means[g]));
      }
      sums.set(base + count, ir_.CreateFAdd(sums.get(base + count), dy));
    };
  }, [&](llvm::Value*, Accumulators& sums) {
    std::vector<llvm::Value*> values;
    for (size_t s = 0; s <= count; ++s) values.push_back(sums.get(s));
    return values;
  });
}

// The second phase, one task: body(c, group, k) for each output-channel
// block c, the k-th of its group's blocks.
void FusedSums::forEachBlock(const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& body) {
  kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value*) {
    kb_.loop(0, tasks_.blocks, [&](llvm::Value* c) {
      body(c, ir_.CreateSDiv(c, kb_.i64(tasks_.groupBlocks)), ir_.CreateSRem(c, kb_.i64(tasks_.groupBlocks)));
    });
  });
}

// Calls f with the sums of block (group, k) of each task, in task order:
// a function that loads the sums' vector v.
void FusedSums::forEachTaskSums(llvm::Value* group, llvm::Value* k, const std::function<void(const TaskSums&)>& f) {
  const int64_t rowBlocks = tasks_.rowBlocks();
  kb_.loop(0, y_[0] * rowBlocks, [&](llvm::Value* at) {
    // Task (n, group, row block) for at = n * rowBlocks + row block.
    llvm::Value* task =
        tasks_.index(kb_, ir_.CreateSDiv(at, kb_.i64(rowBlocks)), group, ir_.CreateSRem(at, kb_.i64(rowBlocks)));
    f([&, task](int64_t vector) { return kb_.loadVector(id_, partial(task, k, vector), b_); });
  });
}

// Each block's statistics from its tasks' sums, moved to the shift of its
// first task K0: with d = K - K0, the sum of y - K0 is S1 + m d and of its
// square S2 + 2 d S1 + m d^2.
void FusedSums::addStatistics() {
  const auto M = static_cast<double>(y_[0] * y_[2] * y_[3]);
  forEachBlock([&](llvm::Value* c, llvm::Value* group, llvm::Value* k) {
    llvm::Value* shift = kb_.loadVector(id_, partial(tasks_.index(kb_, kb_.i64(0), group, kb_.i64(0)), k, 0), b_);
    Accumulators sums(kb_, 2, [&](size_t) { return kb_.f32(0.0); });
    forEachTaskSums(group, k, [&](const TaskSums& load) {
      llvm::Value *s1 = load(1), *count = load(3);
      llvm::Value* d = ir_.CreateFSub(load(0), shift);
      sums.set(0, ir_.CreateFAdd(sums.get(0), kb_.fma(count, d, s1)));
      llvm::Value* moved = ir_.CreateFAdd(load(2), ir_.CreateFMul(d, kb_.fma(count, d, ir_.CreateFAdd(s1, s1))));
      sums.set(1, ir_.CreateFAdd(sums.get(1), moved));
    });
    const Moments moments = shiftedMoments(kb_, shift, sums.get(0), sums.get(1), M);
    llvm::Value* at = ir_.CreateMul(c, kb_.i64(b_));
    kb_.storeVector(*stats_, at, moments.mean);
    kb_.storeVector(*stats_, add(kb_, at, y_[1]), moments.variance);
  });
}

// Each block's gamma gradients, the sums of dy * (x - mean) over the tasks
// times 1 / std, and the beta gradients fused into them, the sum of dy.
void FusedSums::addGammaGradients() {
  const size_t count = gammas_.size();
  forEachBlock([&](llvm::Value* c, llvm::Value* group, llvm::Value* k) {
    Accumulators sums(kb_, count + 1, [&](size_t) { return kb_.f32(0.0); });
    forEachTaskSums(group, k, [&](const TaskSums& load) {
      for (size_t sum = 0; sum <= count; ++sum)
        sums.set(sum, ir_.CreateFAdd(sums.get(sum), load(static_cast<int64_t>(sum))));
    });
    llvm::Value* at = ir_.CreateMul(c, kb_.i64(b_));
    for (size_t g = 0; g < count; ++g) {
      const Node& gamma = kb_.graph().node(gammas_[g]);
      llvm::Value* variance = kb_.loadVector(gamma.operands[2], add(kb_, at, y_[1]), b_);
      llvm::Value* scale = inverseStd(kb_, variance, *getFloat(gamma.attrs, "epsilon"));
      kb_.storeVector(gammas_[g], at, ir_.CreateFMul(sums.get(g), scale));
      if (std::optional<ValueId> beta = fusedBiasGradient(kb_.graph(), gamma)) kb_.storeVector(*beta, at, sums.get(count));
    }
  });
}

}  // namespace cnnc
