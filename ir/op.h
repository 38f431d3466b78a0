// The opcode enumeration generated from ops.def, and its static properties.
#pragma once

#include <optional>
#include <string_view>

namespace cnnc {

enum class Op {
#define OP(Enum, Mnemonic, MinOperands, MaxOperands) Enum,
#include "ir/ops.def"
};

std::string_view mnemonic(Op op);
int minOperands(Op op);
int maxOperands(Op op);  // -1: any number from minOperands upwards
bool isLeaf(Op op);      // input, param, state: values that are not computed
std::optional<Op> opFromMnemonic(std::string_view text);

}  // namespace cnnc
