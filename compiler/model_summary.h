// What `cnnc summary` reports about a model, computed from its lowered graph:
// per layer the output shape and parameter count, and the totals, in the
// manner of Keras's model.summary().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontends/model.h"

namespace cnnc {

struct LayerSummary {
  std::string name;
  std::string op;
  std::vector<int64_t> shape;  // per example: (C, H, W) or (F); no batch axis
  int64_t trainable = 0;       // parameter elements
  int64_t nonTrainable = 0;    // state elements (batch_norm running statistics)
};

struct ModelSummary {
  std::string name;
  std::vector<LayerSummary> layers;
  int64_t trainable = 0;
  int64_t nonTrainable = 0;
  // The convolutional base: the layers up to the last one whose output is
  // still an image (C, H, W), i.e. what precedes the classifier head.
  size_t baseLayerCount = 0;
  int64_t baseParams = 0;
  int64_t bytesPerParam = 4;
};

ModelSummary summarize(const Model& model);

// 122570 -> "122,570", as Keras prints counts.
std::string withThousands(int64_t value);

// The table as printed by `cnnc summary`.
std::string formatSummary(const ModelSummary& summary);

}  // namespace cnnc
