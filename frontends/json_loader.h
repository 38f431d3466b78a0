// The JSON model frontend: model-format v1 (../shared/spec/model-format.md)
// to a Model whose graph is built for one batch size. The only user of
// nlohmann/json in the project.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frontends/model.h"
#include "ir/error.h"

namespace cnnc {

// Parses and lowers a model. On failure the Error holds every problem found
// in the file, one per line, each naming the file and the JSON path:
//   seed.json: layers[3].kernel_size: expected a positive integer or [kh, kw], got "3"
// Syntax errors name the line and column instead: "seed.json:4:17: ...".
Expected<Model> loadModelText(std::string_view json, std::string_view sourceName, int64_t batch);

// Reads `path` and calls loadModelText with the file's name as sourceName.
Expected<Model> loadModelFile(const std::string& path, int64_t batch);

}  // namespace cnnc
