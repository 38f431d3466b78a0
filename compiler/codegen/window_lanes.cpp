#include "compiler/codegen/window_lanes.h"

#include <algorithm>

#include "ir/layout.h"

namespace cnnc {
namespace {

// Plain vectors run along rows, which seldom start on a cache line: eight
// lanes even where the target has sixteen, since an access of sixteen then
// always spans two lines (on AVX-512 that made max_pool2d_bwd of 30x30
// images take half as long again).
constexpr int64_t kPlainLanes = 8;

}  // namespace

WindowLanes::WindowLanes(KernelBuilder& kb, const Node& node, ValueId image, ValueId pooled)
    : kb_(kb), win_(windowAttrs(node)) {
  const TensorType& type = kb.graph().node(image).type;
  const std::vector<int64_t>& out = kb.dims(pooled);
  const IntList window = *getInts(node.attrs, "window");
  const int64_t block = layoutBlock(type.layout);
  blocked_ = block > 1;
  lanes_ = blocked_ ? block : kPlainLanes;
  pixelStride_ = block;
  columnsPerVector_ = blocked_ ? 1 : lanes_;
  planes_ = type.dims[0] * type.dims[1] / block;
  H_ = type.dims[2];
  W_ = type.dims[3];
  OH_ = out[2];
  OW_ = out[3];
  kh_ = window[0];
  kw_ = window[1];
  // Lane l's window starts at column l * stride of the span; the span is
  // whole vectors, so that its loads and stores are too.
  spanLength_ = ((lanes_ - 1) * win_.sw + kw_ + lanes_ - 1) / lanes_ * lanes_;
  rowsMayPad_ = win_.padTop > 0 || (OH_ - 1) * win_.sh + kh_ - win_.padTop > H_;
  columnsMayPad_ = win_.padLeft > 0 || (OW_ - 1) * win_.sw + kw_ - win_.padLeft > W_;
}

bool WindowLanes::windowsTile() const { return win_.sh == kh_ && win_.sw == kw_; }

llvm::VectorType* WindowLanes::vectorType() { return kb_.vectorType(lanes_); }
llvm::Value* WindowLanes::constant(double value) { return kb_.splat(kb_.f32(value), lanes_); }

llvm::Value* WindowLanes::positions(llvm::Value* i, int64_t j) {
  auto& ir = kb_.ir();
  llvm::Value* position = ir.CreateAdd(ir.CreateMul(i, kb_.i64(kw_)), kb_.i64(j));
  return ir.CreateVectorSplat(static_cast<unsigned>(lanes_), ir.CreateTrunc(position, ir.getInt32Ty()));
}

llvm::Value* WindowLanes::planeBase(ValueId id, llvm::Value* plane) {
  // Both layouts store a plane contiguously, the planes in (image, group) order.
  const std::vector<int64_t>& d = kb_.dims(id);
  return kb_.ir().CreateMul(plane, kb_.i64(d[2] * d[3] * pixelStride_));
}

llvm::Value* WindowLanes::insideImage(llvm::Value* positions, int64_t extent) {
  auto& ir = kb_.ir();
  const auto count = static_cast<int64_t>(llvm::cast<llvm::FixedVectorType>(positions->getType())->getNumElements());
  return ir.CreateAnd(ir.CreateICmpSGE(positions, kb_.splat(kb_.i64(0), count)),
                      ir.CreateICmpSLT(positions, kb_.splat(kb_.i64(extent), count)));
}

void WindowLanes::forEachOutput(llvm::Value* plane, const std::function<void(const Output&)>& body,
                                llvm::Value* firstRow, llvm::Value* endRow) {
  auto& ir = kb_.ir();
  kb_.loop(firstRow ? firstRow : kb_.i64(0), endRow ? endRow : kb_.i64(OH_), [&](llvm::Value* oh) {
    kb_.loop(0, OW_, [&](llvm::Value* ow) {
      Output at{plane, oh, ow, kb_.splat(ow, lanes_), nullptr, {}};
      if (!blocked_) at.columns = ir.CreateAdd(at.columns, kb_.laneIds(lanes_));
      if (OW_ % columnsPerVector_ != 0) at.valid = ir.CreateICmpSLT(at.columns, kb_.splat(kb_.i64(OW_), lanes_));
      llvm::Value* starts = ir.CreateMul(at.columns, kb_.splat(kb_.i64(win_.sw), lanes_));
      for (int64_t j = 0; j < kw_; ++j)
        at.inside.push_back(columnsMayPad_
                                ? insideImage(ir.CreateAdd(starts, kb_.splat(kb_.i64(j - win_.padLeft), lanes_)), W_)
                                : nullptr);
      body(at);
    }, columnsPerVector_);
  });
}

llvm::Value* WindowLanes::outputIndex(ValueId id, const Output& at) {
  auto& ir = kb_.ir();
  llvm::Value* pixel = ir.CreateAdd(ir.CreateMul(at.oh, kb_.i64(OW_)), at.ow);
  return ir.CreateAdd(planeBase(id, at.plane), ir.CreateMul(pixel, kb_.i64(pixelStride_)));
}

llvm::Value* WindowLanes::loadOutput(ValueId id, const Output& at) {
  return kb_.loadVector(id, outputIndex(id, at), lanes_, at.valid);
}

void WindowLanes::storeOutput(ValueId id, const Output& at, llvm::Value* vector) {
  kb_.storeVector(id, outputIndex(id, at), vector, at.valid);
}

void WindowLanes::forEachWindowRow(const Output& at, const std::function<void(llvm::Value*, llvm::Value*)>& body) {
  auto& ir = kb_.ir();
  kb_.loop(0, kh_, [&](llvm::Value* i) {
    llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(at.oh, kb_.i64(win_.sh)), i), kb_.i64(win_.padTop));
    if (!rowsMayPad_) return body(i, ih);
    kb_.when(ir.CreateAnd(ir.CreateICmpSGE(ih, kb_.i64(0)), ir.CreateICmpSLT(ih, kb_.i64(H_))), [&] { body(i, ih); });
  });
}

WindowLanes::RowSpan WindowLanes::rowSpan(ValueId id, const Output& at, llvm::Value* ih) {
  auto& ir = kb_.ir();
  llvm::Value* start = ir.CreateSub(ir.CreateMul(at.ow, kb_.i64(win_.sw)), kb_.i64(win_.padLeft));
  llvm::Value* index = ir.CreateAdd(planeBase(id, at.plane), ir.CreateAdd(ir.CreateMul(ih, kb_.i64(W_)), start));
  llvm::Value* columns = ir.CreateAdd(kb_.splat(start, spanLength_), kb_.laneIds(spanLength_));
  return {index, insideImage(columns, W_)};
}

llvm::Value* WindowLanes::pickColumn(llvm::Value* span, int64_t j) {
  std::vector<int> picks;
  for (int64_t l = 0; l < lanes_; ++l) picks.push_back(static_cast<int>(l * win_.sw + j));
  return kb_.ir().CreateShuffleVector(span, picks);
}

llvm::Value* WindowLanes::putColumn(llvm::Value* span, int64_t j, llvm::Value* lanes) {
  auto& ir = kb_.ir();
  // Shuffles take two operands of one type: lanes widened to the span first.
  std::vector<int> widen(static_cast<size_t>(spanLength_), -1);
  for (int64_t l = 0; l < lanes_; ++l) widen[static_cast<size_t>(l)] = static_cast<int>(l);
  llvm::Value* wide = ir.CreateShuffleVector(lanes, widen);
  std::vector<int> merge;
  for (int64_t p = 0; p < spanLength_; ++p) {
    const bool ours = p >= j && (p - j) % win_.sw == 0 && (p - j) / win_.sw < lanes_;
    merge.push_back(static_cast<int>(ours ? spanLength_ + (p - j) / win_.sw : p));
  }
  return ir.CreateShuffleVector(span, wide, merge);
}

llvm::Value* WindowLanes::elementIndex(ValueId id, const Output& at, llvm::Value* ih, int64_t j) {
  auto& ir = kb_.ir();
  llvm::Value* iw = ir.CreateAdd(ir.CreateMul(at.ow, kb_.i64(win_.sw)), kb_.i64(j - win_.padLeft));
  llvm::Value* pixel = ir.CreateAdd(ir.CreateMul(ih, kb_.i64(W_)), iw);
  return ir.CreateAdd(planeBase(id, at.plane), ir.CreateMul(pixel, kb_.i64(pixelStride_)));
}

std::vector<llvm::Value*> WindowLanes::loadRow(ValueId id, const Output& at, llvm::Value* ih) {
  std::vector<llvm::Value*> values;
  if (blocked_) {
    for (int64_t j = 0; j < kw_; ++j)
      values.push_back(kb_.loadVector(id, elementIndex(id, at, ih, j), lanes_, at.inside[static_cast<size_t>(j)]));
    return values;
  }
  const RowSpan row = rowSpan(id, at, ih);
  llvm::Value* span = kb_.loadVector(id, row.index, spanLength_, row.mask);
  for (int64_t j = 0; j < kw_; ++j) values.push_back(pickColumn(span, j));
  return values;
}

void WindowLanes::writeRow(ValueId id, const Output& at, llvm::Value* ih, const std::vector<llvm::Value*>& values,
                           bool accumulate) {
  auto& ir = kb_.ir();
  if (blocked_) {
    for (int64_t j = 0; j < kw_; ++j) {
      llvm::Value* index = elementIndex(id, at, ih, j);
      llvm::Value* inside = at.inside[static_cast<size_t>(j)];
      llvm::Value* value = values[static_cast<size_t>(j)];
      if (accumulate) value = ir.CreateFAdd(kb_.loadVector(id, index, lanes_, inside), value);
      kb_.storeVector(id, index, value, inside);
    }
    return;
  }
  // Windows of one row may overlap: each column adds to the span as the
  // previous ones left it.
  const RowSpan row = rowSpan(id, at, ih);
  llvm::Value* span = accumulate ? kb_.loadVector(id, row.index, spanLength_, row.mask)
                                 : llvm::Constant::getNullValue(kb_.vectorType(spanLength_));
  for (int64_t j = 0; j < kw_; ++j) {
    llvm::Value* value = values[static_cast<size_t>(j)];
    if (accumulate) value = ir.CreateFAdd(pickColumn(span, j), value);
    span = putColumn(span, j, value);
  }
  kb_.storeVector(id, row.index, span, row.mask);
}

llvm::Value* WindowLanes::windowSizes(const Output& at) {
  auto& ir = kb_.ir();
  auto lanesOf = [&](int64_t value) { return kb_.splat(kb_.i64(value), lanes_); };
  // How much of [start, start + size) lies in [0, extent), for every lane.
  auto overlap = [&](llvm::Value* start, int64_t size, int64_t extent) {
    llvm::Value* end = kb_.smin(ir.CreateAdd(start, lanesOf(size)), lanesOf(extent));
    return ir.CreateSub(end, kb_.smax(start, lanesOf(0)));
  };
  llvm::Value* top = ir.CreateSub(ir.CreateMul(at.oh, kb_.i64(win_.sh)), kb_.i64(win_.padTop));
  llvm::Value* left = ir.CreateSub(ir.CreateMul(at.columns, lanesOf(win_.sw)), lanesOf(win_.padLeft));
  llvm::Value* count = ir.CreateMul(overlap(kb_.splat(top, lanes_), kh_, H_), overlap(left, kw_, W_));
  return ir.CreateSIToFP(kb_.smax(count, lanesOf(1)), vectorType());
}

void WindowLanes::zeroPlane(ValueId id, llvm::Value* plane) { kb_.zero(id, planeBase(id, plane), H_ * W_ * pixelStride_); }

void WindowLanes::zeroUncovered(ValueId id, llvm::Value* plane) {
  auto& ir = kb_.ir();
  const int64_t rows = std::min(H_, OH_ * win_.sh - win_.padTop);
  const int64_t columns = std::min(W_, OW_ * win_.sw - win_.padLeft);
  llvm::Value* base = planeBase(id, plane);
  if (rows < H_) kb_.zero(id, ir.CreateAdd(base, kb_.i64(rows * W_ * pixelStride_)), (H_ - rows) * W_ * pixelStride_);
  if (columns < W_)
    kb_.loop(0, rows, [&](llvm::Value* row) {
      llvm::Value* first = ir.CreateMul(ir.CreateAdd(ir.CreateMul(row, kb_.i64(W_)), kb_.i64(columns)), kb_.i64(pixelStride_));
      kb_.zero(id, ir.CreateAdd(base, first), (W_ - columns) * pixelStride_);
    });
}

}  // namespace cnnc
