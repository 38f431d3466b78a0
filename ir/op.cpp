#include "ir/op.h"

#include <array>

namespace cnnc {
namespace {

struct OpInfo {
  std::string_view mnemonic;
  int minOperands;
  int maxOperands;
};

constexpr std::array kOpInfo = {
#define OP(Enum, Mnemonic, MinOperands, MaxOperands) OpInfo{Mnemonic, MinOperands, MaxOperands},
#include "ir/ops.def"
};

const OpInfo& info(Op op) { return kOpInfo[static_cast<size_t>(op)]; }

}  // namespace

std::string_view mnemonic(Op op) { return info(op).mnemonic; }
int minOperands(Op op) { return info(op).minOperands; }
int maxOperands(Op op) { return info(op).maxOperands; }
bool isLeaf(Op op) { return op == Op::Input || op == Op::Param || op == Op::State; }

std::optional<Op> opFromMnemonic(std::string_view text) {
  for (size_t i = 0; i < kOpInfo.size(); ++i)
    if (kOpInfo[i].mnemonic == text) return static_cast<Op>(i);
  return std::nullopt;
}

}  // namespace cnnc
