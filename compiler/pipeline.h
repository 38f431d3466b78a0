// The compiler pipeline: from a model to the graph of one job, through the
// passes in order, verifying the graph after each. One visible list:
//
//   inference:   import -> prune(logits)
//   evaluation:  import                                  (logits, loss)
//   gradient:    import -> lower-training -> autodiff    (loss, gradients)
//   train step:  import -> lower-training -> autodiff -> optimizer  (logits, loss)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/model.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "support/phase_times.h"

namespace cnnc {

enum class GraphKind { Inference, Evaluation, Gradient, TrainStep };

struct PipelineOptions {
  GraphKind kind = GraphKind::Inference;
  uint64_t seed = 0;  // seeds the dropout masks of training graphs
  // Called after every pass with its name and the graph it produced.
  std::function<void(std::string_view pass, const Graph& graph)> afterPass;
  // If given, records how long each pass took.
  PhaseTimes* times = nullptr;
};

struct CompiledGraph {
  Graph graph;
  // Gradient graphs: the param each gradient output belongs to, in output
  // order after the loss.
  std::vector<std::string> gradientParams;
};

Expected<CompiledGraph> buildGraph(const Model& model, const PipelineOptions& options);

}  // namespace cnnc
