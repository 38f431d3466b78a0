#include "runtime/executable.h"

namespace cnnc {
namespace {

class ReferenceExecutable final : public Executable {
 public:
  explicit ReferenceExecutable(Graph graph) : graph_(std::move(graph)) {}
  Expected<std::vector<Tensor>> run(Bindings<float>& bindings) override { return executeReference(graph_, bindings); }

 private:
  Graph graph_;
};

}  // namespace

Backend referenceBackend() {
  return [](Graph graph) -> Expected<std::unique_ptr<Executable>> {
    return std::unique_ptr<Executable>(std::make_unique<ReferenceExecutable>(std::move(graph)));
  };
}

}  // namespace cnnc
