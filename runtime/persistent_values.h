// The persistent values of a model (params, batch_norm running statistics,
// optimizer state, the step) for executables that hold them between runs
// (see executable.h). Several executables may share the values, one running
// at a time: one per batch size, or inference and training. The values move
// into an executable only when it runs after another one, and come back out
// of it only when asked for, so consecutive steps of one executable copy
// nothing but their batch.
#pragma once

#include "runtime/executable.h"

namespace cnnc {

class PersistentValues {
 public:
  explicit PersistentValues(Bindings<float> values) : values_(std::move(values)) {}

  // Zeros for every param or state of `graph` that the values lack: the
  // optimizer's state and the step before training starts.
  void addMissingState(const Graph& graph);

  // Makes `executable` hold the values, so that it can run: binds them into
  // it unless it ran last (and so holds them already, or newer ones).
  Status moveInto(Executable& executable);

  // The values as the runs so far have left them.
  Expected<const Bindings<float>*> current();

 private:
  // Brings values_ up to date with the executable that ran last.
  Status sync();

  Bindings<float> values_;
  // The executable that ran last: it holds values_, or newer ones if its
  // graph assigns. It must still exist at the next moveInto or current,
  // which read those back.
  Executable* holder_ = nullptr;
};

}  // namespace cnnc
