#include "runtime/persistent_values.h"

#include "runtime/parameters.h"

namespace cnnc {

void PersistentValues::addMissingState(const Graph& graph) { cnnc::addMissingState(graph, values_); }

Status PersistentValues::sync() { return holder_ ? readAssigned(*holder_, values_) : Status::ok(); }

Status PersistentValues::moveInto(Executable& executable) {
  if (holder_ == &executable) return Status::ok();
  CNNC_TRY(sync());
  holder_ = nullptr;  // until the binding succeeds, no executable holds the values
  CNNC_TRY(bindAll(executable, values_));
  holder_ = &executable;
  return Status::ok();
}

Expected<const Bindings<float>*> PersistentValues::current() {
  CNNC_TRY(sync());
  return &values_;
}

}  // namespace cnnc
