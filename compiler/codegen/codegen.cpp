#include "compiler/codegen/codegen.h"

#include <fmt/format.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/blocked_kernels.h"
#include "compiler/codegen/emitters.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

using Emitter = int64_t (*)(KernelBuilder&, ValueId);

Emitter emitterFor(Op op) {
  switch (op) {
    case Op::Conv2D:
    case Op::Conv2DBackwardData:
    case Op::Conv2DBackwardFilter: return emitConvolution;
    case Op::Dense:
    case Op::DenseBackwardData:
    case Op::DenseBackwardWeight:
    case Op::BiasGrad: return emitDense;
    case Op::MaxPool2D:
    case Op::AvgPool2D:
    case Op::GlobalAvgPool2D:
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward:
    case Op::GlobalAvgPool2DBackward: return emitPooling;
    case Op::BatchNorm:
    case Op::BatchNormStats:
    case Op::BatchNormTrain:
    case Op::BatchNormRunning:
    case Op::BatchNormBackwardGamma:
    case Op::BatchNormBackwardData: return emitNormalization;
    case Op::Softmax:
    case Op::SoftmaxCrossEntropy:
    case Op::SoftmaxCrossEntropyBackward: return emitLoss;
    case Op::Concat:
    case Op::ChannelSlice:
    case Op::Relayout:
    case Op::FilterTranspose: return emitDataMovement;
    default: return emitElementwise;
  }
}

// Blocked operands or results only where a kernel handles them, in blocks
// of the target's vector width.
Status checkLayouts(const Graph& graph, const Target& target) {
  for (const Node& node : graph.nodes()) {
    std::vector<Layout> layouts = {node.type.layout};
    for (ValueId operand : node.operands) layouts.push_back(graph.node(operand).type.layout);
    for (Layout layout : layouts) {
      if (layout == Layout::Plain) continue;
      if (!hasBlockedKernel(node.op) && !isLeaf(node.op))
        return Error{fmt::format("code generation does not support {} ({}) with blocked layouts",
                                 valueRef(node.name), mnemonic(node.op))};
      if (layoutBlock(layout) != target.vectorWidth)
        return Error{fmt::format("{} is in layout {}, but {} vectors hold {} floats", valueRef(node.name),
                                 layoutName(layout), target.name, target.vectorWidth)};
    }
  }
  return Status::ok();
}

// Kernel names: k<id>_<node name with anything but [A-Za-z0-9_] as '_'>.
std::string kernelSymbol(ValueId id, const std::string& name) {
  std::string symbol = fmt::format("k{}_", id);
  for (char c : name) symbol += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return symbol;
}

}  // namespace

Expected<GeneratedCode> generateCode(const Graph& graph, const Target& target) {
  for (const Node& node : graph.nodes())
    if (node.type.dtype == DType::F64)
      return Error{fmt::format("code generation supports f32 graphs only, {} is {}", valueRef(node.name),
                               toString(node.type))};
  GeneratedCode code;
  code.context = std::make_unique<llvm::LLVMContext>();
  code.module = std::make_unique<llvm::Module>(graph.name(), *code.context);
  CNNC_TRY(checkLayouts(graph, target));
  code.layout = layoutBuffers(graph);
  for (ValueId id : executionOrder(graph)) {
    if (assignsInPlace(graph, code.layout, id)) continue;
    const Node& node = graph.node(id);
    KernelInfo kernel{kernelSymbol(id, node.name), id, 0};
    KernelBuilder kb(*code.module, kernel.symbol, graph, code.layout, target);
    kernel.tasks = emitterFor(node.op)(kb, id);
    kb.finish();
    code.kernels.push_back(std::move(kernel));
  }
  std::string problems;
  llvm::raw_string_ostream stream(problems);
  if (llvm::verifyModule(*code.module, &stream))
    return Error{fmt::format("internal error: generated LLVM IR is invalid: {}", stream.str())};
  return code;
}

}  // namespace cnnc
