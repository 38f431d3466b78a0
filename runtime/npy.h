// NumPy .npy files (model-format.md §3): the command line's images, labels and
// logits. Reads versions 1.0, 2.0 and 3.0, little-endian, C order; writes
// float32 v1.0 exactly as numpy.save does (without its optional growth padding).
// Every problem is one line "<path>: <what>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/tensor.h"

namespace cnnc {

// A float32 ('<f4') or float64 ('<f8', converted) array of any rank.
Expected<Tensor> readNpyFloat(const std::string& path);

// A 1-D array of int32 ('<i4'), int64 ('<i8', each value must fit int32) or
// uint8 ('|u1'). Whether the values are valid classes is the caller's check.
Expected<std::vector<int32_t>> readNpyLabels(const std::string& path);

// Writes '<f4', C order, version 1.0, atomically.
Status writeNpy(const std::string& path, const Tensor& tensor);

}  // namespace cnnc
