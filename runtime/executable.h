// A compiled graph ready to run, whatever the backend: the reference
// executor now, generated code later. The trainer and the driver only see
// this interface.
#pragma once

#include <functional>
#include <memory>
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
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Runs the graph once. `bindings` holds every leaf by name; values that
  // the graph assigns (updated weights, optimizer state) are written back.
  virtual Expected<std::vector<Tensor>> run(Bindings<float>& bindings) = 0;
  // Times every kernel of the following runs; profile() tells the totals.
  // Backends that cannot time kernels report nothing.
  virtual void startProfiling() {}
  virtual std::vector<KernelProfile> profile() const { return {}; }
};

// Makes an Executable of a graph: the backend's compiler.
using Backend = std::function<Expected<std::unique_ptr<Executable>>(Graph graph)>;

// The reference backend: interprets the graph with the reference kernels.
Backend referenceBackend();

}  // namespace cnnc
