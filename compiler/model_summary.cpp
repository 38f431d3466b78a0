#include "compiler/model_summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc {
namespace {

int64_t countElements(const Graph& graph, const std::vector<ValueId>& values) {
  int64_t total = 0;
  for (ValueId id : values) total += *elementCount(graph.node(id).type);
  return total;
}

std::string countAndSize(int64_t count, int64_t bytesPerParam) {
  return fmt::format("{} ({:.2f} KiB)", withThousands(count),
                     static_cast<double>(count * bytesPerParam) / 1024.0);
}

}  // namespace

std::string withThousands(int64_t value) {
  std::string digits = fmt::format("{}", value);
  std::string text;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

ModelSummary summarize(const Model& model) {
  const Graph& graph = model.graph;
  ModelSummary summary;
  summary.name = model.name;
  summary.bytesPerParam = dtypeBits(graph.node(model.input).type.dtype) / 8;
  for (const Layer& layer : model.layers) {
    const std::vector<int64_t>& dims = graph.node(layer.output).type.dims;
    LayerSummary row{layer.name, layer.op, {dims.begin() + 1, dims.end()},
                     countElements(graph, layer.params), countElements(graph, layer.state)};
    summary.trainable += row.trainable;
    summary.nonTrainable += row.nonTrainable;
    summary.layers.push_back(std::move(row));
  }
  for (size_t i = 0; i < summary.layers.size(); ++i)
    if (summary.layers[i].shape.size() == 3) summary.baseLayerCount = i + 1;
  for (size_t i = 0; i < summary.baseLayerCount; ++i)
    summary.baseParams += summary.layers[i].trainable + summary.layers[i].nonTrainable;
  return summary;
}

std::string formatSummary(const ModelSummary& summary) {
  const std::string rule(72, '_');
  const std::string doubleRule(72, '=');
  std::string text = fmt::format("Model: \"{}\"\n{}\n", summary.name, rule);
  text += fmt::format(" {:<36}{:<24}{:>10}\n{}\n", "Layer (op)", "Output shape (C, H, W)", "Param #", doubleRule);
  for (const LayerSummary& layer : summary.layers)
    text += fmt::format(" {:<36}{:<24}{:>10}\n", fmt::format("{} ({})", layer.name, layer.op),
                        fmt::format("({})", fmt::join(layer.shape, ", ")),
                        withThousands(layer.trainable + layer.nonTrainable));
  text += doubleRule + "\n";
  text += fmt::format("Total params: {}\n", countAndSize(summary.trainable + summary.nonTrainable, summary.bytesPerParam));
  text += fmt::format("Trainable params: {}\n", countAndSize(summary.trainable, summary.bytesPerParam));
  text += fmt::format("Non-trainable params: {}\n", countAndSize(summary.nonTrainable, summary.bytesPerParam));
  if (summary.baseLayerCount > 0)
    text += fmt::format("Convolutional base ({} .. {}): {} params\n", summary.layers.front().name,
                        summary.layers[summary.baseLayerCount - 1].name, withThousands(summary.baseParams));
  return text + rule + "\n";
}

}  // namespace cnnc
