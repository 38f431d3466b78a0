// bias_grad: db [C] = the sum of dy [N,C,...] over every axis but the
// channel, one channel group per task (ChannelLanes).
#include "compiler/codegen/channel_lanes.h"
#include "compiler/codegen/emitters.h"

namespace cnnc {

void emitBiasGradGroup(KernelBuilder& kb, ValueId bias, ValueId dy, llvm::Value* group) {
  ChannelLanes lanes(kb, dy, group);
  lanes.storePerChannel(bias, kb.i64(0), lanes.sum([&](const ChannelLanes::Position& at) { return lanes.load(dy, at); }, lanes.allImages()));
}

int64_t emitBiasGrad(KernelBuilder& kb, ValueId id) {
  const ValueId dy = kb.graph().node(id).operands[0];
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* group) { emitBiasGradGroup(kb, id, dy, group); });
  return ChannelLanes::groups(kb, dy);
}

}  // namespace cnnc
