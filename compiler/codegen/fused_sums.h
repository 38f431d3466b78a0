// Batch sums fused into a blocked convolution kernel whose tasks are rows
// of its result (RowsTasks: the forward and backward-data kernels), named
// by its node (ir/fused_statistics.h): the batch statistics of its result,
// or the gamma and beta gradients of the batch norm whose output gradient
// it is. Each task sums the rows it has just written, while they are in
// cache, into partial sums of its own in the node's workspace; a second
// phase adds them up in task order, so that results do not depend on how
// the tasks were spread over threads.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "compiler/codegen/blocked_conv.h"

namespace cnnc {

// The vectors that the sums fused into `node` keep per task and
// output-channel block in its workspace: 4 for statistics (the shift, the
// sums of y - shift and of its square, their count), for gamma gradients
// one more than there are of them (the sums of dy * (x - mean) for each,
// and of dy); 0 if it has none (and if it is no convolution).
int64_t fusedSumVectors(const Graph& graph, const Node& node);

// The floats of that workspace, for tasks `tasks` in blocks of `block`
// channels.
inline int64_t fusedSumsFloats(const Graph& graph, const Node& node, const blocked::RowsTasks& tasks, int64_t block) {
  return tasks.count() * tasks.groupBlocks * fusedSumVectors(graph, node) * block;
}

class FusedSums {
 public:
  // For node `id` of the kernel being built, whose tasks are `tasks`.
  FusedSums(KernelBuilder& kb, ValueId id, const blocked::RowsTasks& tasks);

  // The task's partial sums, once its rows are written (none if the node
  // has no fused sums).
  void sumTask(const blocked::RowsTask& task);
  // The values besides the result that sumTask reads, at the result's
  // indices: the gamma gradients' batch norm inputs.
  std::vector<ValueId> operands() const;
  // Ends the phase of the kernel's `tasks` tasks with a second one that
  // adds the partial sums, if the node has fused sums; returns the tasks of
  // the kernel's last phase.
  int64_t addTasks(int64_t tasks);

 private:
  llvm::Value* partial(llvm::Value* task, llvm::Value* block, int64_t vector);
  // Adds the terms of the vector at an index to the accumulators from base.
  using Terms = std::function<void(Accumulators&, size_t base, llvm::Value*)>;
  void sumRows(const blocked::RowsTask& task, size_t count, const std::function<Terms(int64_t, llvm::Value*)>& termsOf,
               const std::function<std::vector<llvm::Value*>(llvm::Value*, Accumulators&)>& stored);
  void sumStatistics(const blocked::RowsTask& task);
  void sumGammaGradients(const blocked::RowsTask& task);
  void forEachBlock(const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& body);
  using TaskSums = std::function<llvm::Value*(int64_t)>;
  void forEachTaskSums(llvm::Value* group, llvm::Value* k, const std::function<void(const TaskSums&)>& f);
  void addStatistics();
  void addGammaGradients();

  KernelBuilder& kb_;
  llvm::IRBuilder<>& ir_;
  const ValueId id_;
  const blocked::RowsTasks tasks_;
  const std::vector<int64_t>& y_;  // the result's dims
  const int64_t b_, elements_;
  const std::optional<ValueId> stats_;
  const std::vector<ValueId> gammas_;  // fusedGammaGradients
  const int64_t sumVectors_;  // fusedSumVectors
};

}  // namespace cnnc
