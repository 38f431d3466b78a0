#include "compiler/codegen/codegen.h"

#include <algorithm>

#include <fmt/format.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/blocked_kernels.h"
#include "compiler/codegen/emitters.h"
#include "compiler/conv_tiles.h"
#include "ir/batch_group.h"
#include "ir/fused_pooling.h"
#include "ir/kernel_results.h"
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
    case Op::DenseBackwardWeight: return emitDense;
    case Op::BiasGrad: return emitBiasGrad;
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
    case Op::ChannelSlice: return emitDataMovement;
    case Op::Relayout:
    case Op::FilterTranspose: return emitRelayout;
    case Op::ReluMask: return emitReluMask;
    default: return emitElementwise;
  }
}

// Blocked operands or results only where a kernel handles them; the
// convolutions' blocks are the target's vectors.
Status checkLayouts(const Graph& graph, const Target& target) {
  for (const Node& node : graph.nodes()) {
    std::vector<Layout> layouts = {node.type.layout};
    for (ValueId operand : node.operands) layouts.push_back(graph.node(operand).type.layout);
    for (Layout layout : layouts) {
      if (layout == Layout::Plain) continue;
      if (!hasBlockedKernel(node.op, layout) && !isLeaf(node.op))
        return Error{fmt::format("code generation does not support {} ({}) with blocked layouts",
                                 valueRef(node.name), mnemonic(node.op))};
      const bool convolution =
          node.op == Op::Conv2D || node.op == Op::Conv2DBackwardData || node.op == Op::Conv2DBackwardFilter;
      if (convolution && layoutBlock(layout) != target.vectorWidth)
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

Expected<GeneratedCode> generateCode(const Graph& graph, const Target& target, size_t units) {
  for (const Node& node : graph.nodes())
    if (node.type.dtype == DType::F64)
      return Error{fmt::format("code generation supports f32 graphs only, {} is {}", valueRef(node.name),
                               toString(node.type))};
  CNNC_TRY(checkLayouts(graph, target));
  for (const Node& node : graph.nodes()) {
    // checkTile covers a fused pooling's rows; without a tile, the default's.
    std::optional<IntList> tile = getInts(node.attrs, "tile");
    Status status = tile ? checkTile(graph, node, *tile)
                  : fusedPooling(graph, node) ? checkFusedPoolRows(graph, node, forwardTile(graph, node, target))
                                              : Status::ok();
    CNNC_TRY(status);
  }
  const std::vector<ValueId> order = executionOrder(graph);
  GeneratedCode code;
  // No empty units: each would cost LLVM's fixed price of a module.
  const size_t unitCount = std::max<size_t>(1, std::min(units, order.size()));
  for (size_t unit = 0; unit < unitCount; ++unit) {
    auto context = std::make_unique<llvm::LLVMContext>();
    auto module = std::make_unique<llvm::Module>(graph.name(), *context);
    code.units.push_back({std::move(context), std::move(module)});
  }
  code.layout = layoutBuffers(graph, target);
  // Each kernel goes to the unit of the fewest instructions so far, so that
  // the units take about as long to optimise and compile: dealt round in
  // turn, the seed's three Winograd kernels came to units of 7,146, 7,333
  // and 4,842 instructions beside others of 297 and 449, and one thread
  // compiled on alone at the end.
  const std::vector<ValueId> computing = computingKernels(graph);
  for (ValueId id : order) {
    // No kernel for a value another kernel computes, nor for an inlined
    // batch norm, which its readers compute (ir/inlined_norm.h).
    if (assignsInPlace(graph, code.layout, id) || !hasOwnKernel(graph, computing, id)) continue;
    const Node& node = graph.node(id);
    CodeUnit& unit = *std::min_element(code.units.begin(), code.units.end(),
                                       [](const CodeUnit& a, const CodeUnit& b) { return a.instructions < b.instructions; });
    const size_t functions = unit.module->size();
    KernelBuilder kb(*unit.module, kernelSymbol(id, node.name), graph, code.layout, target);
    kb.finish(emitterFor(node.op)(kb, id));
    code.kernels.push_back({id, kb.phases()});
    for (auto f = std::next(unit.module->begin(), static_cast<std::ptrdiff_t>(functions)); f != unit.module->end(); ++f)
      unit.instructions += f->getInstructionCount();
  }
  for (const CodeUnit& unit : code.units) {
    std::string problems;
    llvm::raw_string_ostream stream(problems);
    if (llvm::verifyModule(*unit.module, &stream))
      return Error{fmt::format("internal error: generated LLVM IR is invalid: {}", stream.str())};
  }
  return code;
}

}  // namespace cnnc
