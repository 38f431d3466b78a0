// Per-op type inference: the result type of an op applied to operands of the
// given types with the given attributes. It is also the op's contract: it
// checks the operand count, the operand ranks, dtypes and dimensions, and the
// attributes' presence and ranges. Messages carry no location; callers prefix
// the JSON path, the line and column, or the node name.
#pragma once

#include <vector>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"
#include "ir/type.h"

namespace cnnc {

Expected<TensorType> inferType(Op op, const std::vector<TensorType>& operands,
                               const AttributeMap& attrs);

// Output extent of a sliding window (convolution or pooling) along one axis:
// floor((in + padBefore + padAfter - window) / stride) + 1, or an error when
// the window does not fit the padded input.
Expected<int64_t> windowOutputSize(int64_t in, int64_t window, int64_t stride, int64_t padBefore,
                                   int64_t padAfter);

}  // namespace cnnc
