// Shape rules of the ops that training adds: training-mode forms of forward
// ops, backward ops and optimizer updates. Internal to ir/: inferType() in
// shape_inference.h is the entry point.
#pragma once

#include <vector>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"
#include "ir/type.h"

namespace cnnc {

Expected<TensorType> inferTrainingOp(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs);

}  // namespace cnnc
