// Reads the textual IR (see printer.h for the form) back into a Graph.
#pragma once

#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

// Parses and verifies one graph. `sourceName` prefixes every message, which
// carries the line and column: "model.cnn:12:7: unknown op 'conv3d'".
Expected<Graph> parseGraph(std::string_view text, std::string_view sourceName);

}  // namespace cnnc
