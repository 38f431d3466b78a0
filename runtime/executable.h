// A compiled graph ready to run, whatever the backend: the reference
// executor or generated code. The trainer and the driver only see this
// interface.
//
// An executable holds the values of its graph's leaves between runs, so that
// weights and optimizer state stay where the kernels read them (the arena of
// generated code) instead of being copied in and out on every step: bind a
// leaf once, run many times (each run's assigns update the held values), and
// read a leaf back only when it is wanted (a checkpoint, the end of training).
// Inputs are leaves too: bind the next batch before each run.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/reference_executor.h"

namespace cnnc {

// Where the time of the runs went, per node (for `cnnc bench --per-op`).
struct KernelProfile {
  ValueId node;
  double seconds = 0;  // over all profiled runs
  int64_t calls = 0;
  // Its fastest run: on a shared machine, whose other tenants slow some
  // runs down, the least disturbed measure of the kernel's own speed.
  double fastest = std::numeric_limits<double>::infinity();
  // The kernels of its batch group (ir/batch_group.h) that ran with it, a
  // chunk of the batch at a time: their time is in its own.
  std::vector<ValueId> with = {};
};

class Executable {
 public:
  explicit Executable(Graph graph);
  virtual ~Executable() = default;
  Executable(const Executable&) = delete;
  Executable& operator=(const Executable&) = delete;

  const Graph& graph() const { return graph_; }

  // Sets the leaf (input, param or state) named `name` to `value`, which has
  // the leaf's exact dimensions; integer leaves (labels) take whole numbers
  // that index a class. On error the leaf keeps its previous value.
  Status bind(std::string_view name, const Tensor& value);
  // The leaf's current value: as bound, or as the last run assigned it.
  Expected<Tensor> read(std::string_view name) const;
  // Runs the graph once over the leaves' current values (every leaf must
  // have been bound) and returns the graph's outputs in order.
  Expected<std::vector<Tensor>> run();

  // Times every kernel of the following runs; profile() tells the totals.
  // Backends that cannot time kernels report nothing.
  virtual void startProfiling() {}
  virtual std::vector<KernelProfile> profile() const { return {}; }

 protected:
  // bind, read and run once the arguments are checked: `id` is a leaf and
  // `value` has its dimensions (and whole class indices, for an integer
  // leaf); execute runs with every leaf bound.
  virtual Status store(ValueId id, const Tensor& value) = 0;
  virtual Tensor load(ValueId id) const = 0;
  virtual Expected<std::vector<Tensor>> execute() = 0;

 private:
  Expected<ValueId> leaf(std::string_view name) const;

  Graph graph_;
  std::vector<int64_t> classes_;  // by ValueId: for integer leaves, the classes they index
  std::vector<bool> bound_;       // by ValueId
};

// Binds every leaf of the executable's graph that `values` names; the others
// keep their values. Names that are not leaves of the graph are ignored (a
// checkpoint holds optimizer state that an inference graph has no use for).
Status bindAll(Executable& executable, const Bindings<float>& values);

// Reads every param and state that the executable's graph assigns into `values`.
Status readAssigned(const Executable& executable, Bindings<float>& values);

// Makes an Executable of a graph: the backend's compiler.
using Backend = std::function<Expected<std::unique_ptr<Executable>>(Graph graph)>;

// The reference backend: interprets the graph with the reference kernels.
Backend referenceBackend();

}  // namespace cnnc
