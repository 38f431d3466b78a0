// The checks that op contracts are made of, shared by the shape rules of
// forward ops (shape_inference.cpp) and of backward and optimizer ops
// (shape_inference_training.cpp). Internal to ir/.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"
#include "ir/type.h"

namespace cnnc::checks {

Error fail(std::string message);
bool isFloat(DType dtype);
bool isInteger(DType dtype);

// The number of operands against ops.def.
Status arity(Op op, size_t count);
// A floating-point operand, of the given rank unless rank is -1.
Status floatOperand(Op op, const TensorType& type, std::string_view role, int64_t rank = -1);
Status sameDType(Op op, const std::vector<TensorType>& operands);
// Operands `first..` must all have exactly the type of operand `like`.
Status sameTypes(Op op, const std::vector<TensorType>& operands);
// Rejects attributes the op does not know, so typos in textual IR are caught.
Status attributeNames(Op op, const AttributeMap& attrs, std::initializer_list<std::string_view> known);

// A list attribute of `size` integers, each at least `minimum`.
Expected<IntList> intsAttr(Op op, const AttributeMap& attrs, std::string_view key, size_t size, int64_t minimum);
Expected<int64_t> intAttr(Op op, const AttributeMap& attrs, std::string_view key, int64_t minimum);
// A float attribute in [lo, hi] (or [lo, hi) when hiInclusive is false).
Expected<double> floatAttr(Op op, const AttributeMap& attrs, std::string_view key, double lo, double hi,
                           bool hiInclusive = true);

// The output height and width of a sliding window of kh x kw over image x,
// with attributes strides=[sh,sw] and pads=[top,left,bottom,right].
Expected<std::pair<int64_t, int64_t>> windowOutput(Op op, const TensorType& x, int64_t kh, int64_t kw,
                                                   const AttributeMap& attrs);

}  // namespace cnnc::checks
