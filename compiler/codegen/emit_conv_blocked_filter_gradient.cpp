// conv2d_bwd_filter in channel-blocked layouts (blocked_conv.h). In
// registers, per filter tap: FB blocks of output channels x CB input
// channels; each output-gradient vector feeds CB of them, each broadcast
// input FB.
#include "compiler/codegen/blocked_conv.h"
#include "compiler/conv_tiles.h"

namespace cnnc {

using namespace blocked;

// dw [F,C,KH,KW]<OIhw{b}o> = sum over n, oh, ow of x[n,c,ih,iw] * dy[n,f,oh,ow]
// with dy<NCHW{b}c>; tasks: (group of FB output blocks, group of CB input
// channels, filter row i). Each task owns its weights: no reduction across
// threads. It passes over the images a few at a time (the tile's images,
// whose rows of x and dy stay in L1), and over the filter's columns j in
// turn within a pass, resuming from the partial sums stored by the
// previous pass. One tap at a time keeps every input element of an output
// row distinct, so that LLVM has no reuse across iterations to rotate
// through registers.
int64_t emitBlockedFilterGradient(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const Image x(kb, node.operands[0]);
  const ValueId dy = node.operands[1];
  const std::vector<int64_t>& dyd = kb.dims(dy);
  const std::vector<int64_t>& wd = node.type.dims;
  const int64_t b = kb.width(), blocks = wd[0] / b;
  const WindowAttrs win = windowAttrs(node);
  const FilterGradientTile tile = filterGradientTile(kb.graph(), node, kb.target());
  const int64_t FB = tile.filterBlocks, CB = tile.channels;
  const int64_t groups = blocks / FB, channelGroups = wd[1] / CB, passes = dyd[0] / tile.images;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* f0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(channelGroups * wd[2])), kb.i64(FB));
    llvm::Value* c0 = ir.CreateMul(ir.CreateSRem(ir.CreateSDiv(task, kb.i64(wd[2])), kb.i64(channelGroups)), kb.i64(CB));
    llvm::Value* i = ir.CreateSRem(task, kb.i64(wd[2]));
    const auto [ohLo, ohHi] = outputsInside(kb, i, win.padTop, win.sh, x.dims[2], dyd[2]);
    std::vector<std::pair<llvm::Value*, llvm::Value*>> channels;
    for (int64_t k = 0; k < CB; ++k) channels.push_back(x.channel(kb, c0, k));
    kb.rolledLoop(0, passes, [&](llvm::Value* pass) {
      kb.rolledLoop(0, wd[3], [&](llvm::Value* j) {
        const auto [owLo, owHi] = outputsInside(kb, j, win.padLeft, win.sw, x.dims[3], dyd[3]);
        auto weight = [&](int64_t f, int64_t c) {
          llvm::Value* at = kb.index({add(kb, f0, f), add(kb, c0, c), i, j}, {blocks, wd[1], wd[2], wd[3]});
          return ir.CreateMul(at, kb.i64(b));
        };
        Accumulators acc(kb, static_cast<size_t>(FB * CB), [&](size_t) { return kb.f32(0.0); });
        auto slot = [&](int64_t f, int64_t c) { return static_cast<size_t>(f * CB + c); };
        if (passes > 1)
          kb.when(ir.CreateICmpSGT(pass, kb.i64(0)), [&] {
            for (int64_t f = 0; f < FB; ++f)
              for (int64_t c = 0; c < CB; ++c) acc.set(slot(f, c), kb.loadVector(id, weight(f, c), b));
          });
        llvm::Value* firstImage = ir.CreateMul(pass, kb.i64(tile.images));
        kb.loop(firstImage, add(kb, firstImage, tile.images), [&](llvm::Value* n) {
          kb.loop(ohLo, ohHi, [&](llvm::Value* oh) {
            llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(oh, kb.i64(win.sh)), i), kb.i64(win.padTop));
            kb.loop(owLo, owHi, [&](llvm::Value* ow) {
              llvm::Value* iw = ir.CreateSub(ir.CreateAdd(ir.CreateMul(ow, kb.i64(win.sw)), j), kb.i64(win.padLeft));
              std::vector<llvm::Value*> gradients;
              for (int64_t f = 0; f < FB; ++f) {
                llvm::Value* at = kb.index({n, add(kb, f0, f), oh, ow}, {dyd[0], blocks, dyd[2], dyd[3]});
                gradients.push_back(kb.loadVector(dy, ir.CreateMul(at, kb.i64(b)), b));
              }
              for (int64_t c = 0; c < CB; ++c) {
                const auto [outer, inner] = channels[static_cast<size_t>(c)];
                llvm::Value* input = kb.splat(kb.load(x.id, x.index(kb, n, outer, ih, iw, inner)));
                for (int64_t f = 0; f < FB; ++f) acc.fma(slot(f, c), input, gradients[static_cast<size_t>(f)]);
              }
            });
          });
        });
        for (int64_t f = 0; f < FB; ++f)
          for (int64_t c = 0; c < CB; ++c) kb.storeVector(id, weight(f, c), acc.get(slot(f, c)));
      });
    });
  });
  return groups * channelGroups * wd[2];
}

}  // namespace cnnc
