#include "compiler/codegen/channel_lanes.h"

#include "compiler/codegen/workspace.h"
#include "ir/layout.h"

namespace cnnc {

int64_t ChannelLanes::groups(const KernelBuilder& kb, ValueId image) {
  const TensorType& type = kb.graph().node(image).type;
  return type.dims[1] / layoutBlock(type.layout);
}

ChannelLanes::ChannelLanes(KernelBuilder& kb, ValueId image, llvm::Value* group) : kb_(kb), group_(group) {
  const TensorType& type = kb.graph().node(image).type;
  const int64_t block = layoutBlock(type.layout);
  int64_t pixels = 1;
  for (size_t axis = 2; axis < type.dims.size(); ++axis) pixels *= type.dims[axis];
  blocked_ = block > 1;
  // A plain channel with fewer pixels than a vector (flat features, tiny
  // images) is visited one element at a time rather than in mostly empty vectors.
  lanes_ = blocked_ ? block : (pixels >= kb.width() ? kb.width() : 1);
  images_ = type.dims[0];
  groups_ = type.dims[1] / block;
  elementsPerImage_ = pixels * block;
  firstChannel_ = kb.ir().CreateMul(group, kb.i64(block));
}

ChannelLanes::Images ChannelLanes::allImages() { return {kb_.i64(0), kb_.i64(images_)}; }

ChannelLanes::Images ChannelLanes::image(llvm::Value* n) { return {n, kb_.ir().CreateAdd(n, kb_.i64(1))}; }

ChannelLanes::Images ChannelLanes::part(llvm::Value* part, int64_t parts) {
  const auto [begin, end] = imagesOfPart(kb_, part, parts, images_);
  return {begin, end};
}

void ChannelLanes::forEachVector(const std::function<void(const Position&)>& body, const Images& images) {
  forEachVectors(1, [&](const std::vector<Position>& run) { body(run.front()); }, images);
}

void ChannelLanes::forEachVectors(int64_t count, const std::function<void(const std::vector<Position>&)>& body,
                                  const Images& images) {
  auto& ir = kb_.ir();
  const int64_t whole = elementsPerImage_ / lanes_ * lanes_, runs = whole / (count * lanes_) * (count * lanes_);
  kb_.loop(images.begin, images.end, [&](llvm::Value* image) {
    // Both layouts store a group's elements of one image contiguously, the
    // groups of an image one after the other.
    llvm::Value* plane = ir.CreateAdd(ir.CreateMul(image, kb_.i64(groups_)), group_);
    llvm::Value* base = ir.CreateMul(plane, kb_.i64(elementsPerImage_));
    auto run = [&](llvm::Value* e, int64_t vectors) {
      std::vector<Position> positions;
      for (int64_t k = 0; k < vectors; ++k)
        positions.push_back({ir.CreateAdd(base, ir.CreateAdd(e, kb_.i64(k * lanes_))), nullptr});
      body(positions);
    };
    kb_.loop(0, runs, [&](llvm::Value* e) { run(e, count); }, count * lanes_);
    if (runs < whole) kb_.loop(runs, whole, [&](llvm::Value* e) { run(e, 1); }, lanes_);
    if (whole < elementsPerImage_) {
      llvm::Value* remaining = kb_.splat(kb_.i64(elementsPerImage_ - whole), lanes_);
      body({{ir.CreateAdd(base, kb_.i64(whole)), ir.CreateICmpSLT(kb_.laneIds(lanes_), remaining)}});
    }
  });
}

llvm::Value* ChannelLanes::sum(const std::function<llvm::Value*(const Position&)>& term, const Images& images) {
  return sums(1, [&](const Position& at) { return std::vector<llvm::Value*>{term(at)}; }, images)[0];
}

std::vector<llvm::Value*> ChannelLanes::sums(size_t count, const Terms& terms, const Images& images) {
  auto& ir = kb_.ir();
  llvm::VectorType* type = kb_.vectorType(lanes_);
  std::vector<llvm::AllocaInst*> totals;
  for (size_t k = 0; k < count; ++k) totals.push_back(kb_.variable(type, constant(0.0)));
  forEachVector([&](const Position& at) {
    const std::vector<llvm::Value*> values = terms(at);
    for (size_t k = 0; k < count; ++k) {
      llvm::Value* value = at.mask ? ir.CreateSelect(at.mask, values[k], constant(0.0)) : values[k];
      ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(type, totals[k]), value), totals[k]);
    }
  }, images);
  std::vector<llvm::Value*> result;
  for (llvm::AllocaInst* total : totals) {
    llvm::Value* lanes = ir.CreateLoad(type, total);
    result.push_back(blocked_ ? lanes : kb_.splat(kb_.sum(lanes), lanes_));
  }
  return result;
}

llvm::Value* ChannelLanes::load(ValueId id, const Position& at) { return kb_.loadVector(id, at.index, lanes_, at.mask); }

llvm::Value* ChannelLanes::first(ValueId id) {
  // The group's elements of image 0 start at group * elementsPerImage_ (forEachVector).
  llvm::Value* index = kb_.ir().CreateMul(group_, kb_.i64(elementsPerImage_));
  return blocked_ ? kb_.loadVector(id, index, lanes_) : kb_.splat(kb_.load(id, index), lanes_);
}

void ChannelLanes::store(ValueId id, const Position& at, llvm::Value* vector) {
  // A blocked vector's index is a multiple of its lanes (forEachVector).
  if (blocked_ && !at.mask && kb_.outgrowsCaches(id)) return kb_.streamVector(id, at.index, vector);
  kb_.storeVector(id, at.index, vector, at.mask);
}

llvm::Value* ChannelLanes::loadPerChannel(ValueId id, llvm::Value* offset) {
  llvm::Value* index = kb_.ir().CreateAdd(offset, firstChannel_);
  return blocked_ ? kb_.loadVector(id, index, lanes_) : kb_.splat(kb_.load(id, index), lanes_);
}

void ChannelLanes::storePerChannel(ValueId id, llvm::Value* offset, llvm::Value* perChannel) {
  llvm::Value* index = kb_.ir().CreateAdd(offset, firstChannel_);
  if (blocked_)
    kb_.storeVector(id, index, perChannel);
  else
    kb_.store(id, index, kb_.ir().CreateExtractElement(perChannel, uint64_t{0}));
}

llvm::Value* ChannelLanes::constant(double value) { return kb_.splat(kb_.f32(value), lanes_); }

}  // namespace cnnc
