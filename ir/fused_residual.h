// A residual add fused into the batch norm that feeds it (by the
// fuse-residual-adds pass). A batch_norm or batch_norm_train node with
// attribute `residual` is the add of that normalization's result and its
// extra last operand, the residual, which has the result's type. Its kernel
// adds the residual as it stores, where a kernel would write the
// normalization and the add's read it back.
//
// The node takes the add's name and attributes (a fused activation, which
// applies to the sum); `residual` names the batch norm it absorbed, so that
// dumps and profiles still show that layer:
//
//   %block1_out.relu = batch_norm_train %block1_conv2, %block1_bn2.stats, %block1_bn2.weight,
//                        %block1_bn2.bias, %stem_out
//                        {activation=relu, epsilon=1e-05, fused=block1_out, residual=block1_bn2}
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kResidualAttr = "residual";

// batch_norm and batch_norm_train: the ops that add a fused residual.
bool addsResidual(Op op);

// The residual a node adds to its result, if any.
std::optional<ValueId> residualOf(const Node& node);

// The attribute's contract, for the op's shape rule: on ops that add a
// residual only, and naming the batch norm (a symbol).
Status checkResidual(Op op, const AttributeMap& attrs);

}  // namespace cnnc
