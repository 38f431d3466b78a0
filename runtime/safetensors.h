// Parameters and checkpoints in the safetensors format (model-format.md §2):
// an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian data. Files written
// here load in any other safetensors reader; files read here are validated
// completely before any tensor is built.
#pragma once

#include <map>
#include <string>

#include "ir/error.h"
#include "runtime/tensor.h"

namespace cnnc {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  // The header's "__metadata__" (e.g. the model JSON of a checkpoint).
  std::map<std::string, std::string> metadata;
};

// Reads F32 tensors (F64 ones are converted to float); any other dtype, and
// any inconsistency in the header or the data buffer, is an error
// "<path>: <what>".
Expected<SafetensorsFile> readSafetensors(const std::string& path);

// Writes every tensor as F32, sorted by name with contiguous data, atomically.
// Fails (writing nothing) if a tensor's data does not match its shape, a
// tensor is named "__metadata__", or a name or metadata is not valid UTF-8.
Status writeSafetensors(const std::string& path, const SafetensorsFile& file);

}  // namespace cnnc
