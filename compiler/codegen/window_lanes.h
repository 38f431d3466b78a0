// Pooling kernels as vector code over one plane (image, channel group) per
// task, the same code for every layout of their images.
//
// In a blocked layout (NCHW8c, NCHW16c) a vector is one output pixel's block
// of channels: every lane has the same window, and each element of it is one
// vector load. In the plain layout a vector is consecutive output columns of
// one channel: lane l's window lies l strides right of lane 0's, so each
// window element is picked by a shuffle from a contiguous load of the input
// row (and written back into it the same way).
#pragma once

#include <functional>
#include <vector>

#include "compiler/codegen/emitters.h"

namespace cnnc {

class WindowLanes {
 public:
  // The windows of pooling node `node` (max/avg pooling or their backward
  // ops) between images of value `image`'s dims and layout (x or dx) and
  // pooled values of `pooled`'s (y or dy).
  WindowLanes(KernelBuilder& kb, const Node& node, ValueId image, ValueId pooled);

  int64_t planes() const { return planes_; }  // the tasks of a pooling kernel
  int64_t windowColumns() const { return kw_; }
  // Whether each input element lies in one window at most, and in exactly
  // one unless no window reaches its row or column (zeroUncovered).
  bool windowsTile() const;

  // A vector of outputs of one plane.
  struct Output {
    llvm::Value* plane;
    llvm::Value* oh;
    llvm::Value* ow;       // the output column of the first lane
    llvm::Value* columns;  // every lane's output column, as i64 lanes
    llvm::Value* valid;    // the lanes that are outputs (null: all)
    // Per window column j: the lanes whose element j is in the image, not
    // in its padding (null: all).
    std::vector<llvm::Value*> inside;
  };
  // body(output) for the plane's outputs, of every row or of the rows
  // [firstRow, endRow) (run-time values).
  void forEachOutput(llvm::Value* plane, const std::function<void(const Output&)>& body,
                     llvm::Value* firstRow = nullptr, llvm::Value* endRow = nullptr);
  llvm::Value* loadOutput(ValueId id, const Output& at);
  void storeOutput(ValueId id, const Output& at, llvm::Value* vector);

  // body(i, ih) for every window row i whose input row ih is in the image.
  void forEachWindowRow(const Output& at, const std::function<void(llvm::Value* i, llvm::Value* ih)>& body);
  // The elements of value `id` in input row ih of the lanes' windows, one
  // vector per window column (0 in the padding).
  std::vector<llvm::Value*> loadRow(ValueId id, const Output& at, llvm::Value* ih);
  // Sets the elements in the image of that row to values[j], or adds
  // values[j] to them if `accumulate`; setting needs windowsTile().
  void writeRow(ValueId id, const Output& at, llvm::Value* ih, const std::vector<llvm::Value*>& values,
                bool accumulate);
  // The number of elements of each lane's window that are in the image, as
  // floats; at least 1, in lanes that are not outputs too.
  llvm::Value* windowSizes(const Output& at);

  void zeroPlane(ValueId id, llvm::Value* plane);
  // Zeros the rows and columns of the plane past the last window's.
  void zeroUncovered(ValueId id, llvm::Value* plane);

  llvm::VectorType* vectorType();
  llvm::Value* constant(double value);
  // The position i * window columns + j of window element (i, j), as i32
  // lanes: how max pooling's backward op names each lane's maximum.
  llvm::Value* positions(llvm::Value* i, int64_t j);

 private:
  llvm::Value* planeBase(ValueId id, llvm::Value* plane);
  llvm::Value* outputIndex(ValueId id, const Output& at);
  llvm::Value* insideImage(llvm::Value* positions, int64_t extent);
  // Plain layout: the contiguous stretch of input row ih that the lanes'
  // windows span, and its elements that are in the image.
  struct RowSpan {
    llvm::Value* index;
    llvm::Value* mask;
  };
  RowSpan rowSpan(ValueId id, const Output& at, llvm::Value* ih);
  llvm::Value* pickColumn(llvm::Value* span, int64_t j);
  llvm::Value* putColumn(llvm::Value* span, int64_t j, llvm::Value* lanes);
  // Blocked layout: where window column j of row ih starts.
  llvm::Value* elementIndex(ValueId id, const Output& at, llvm::Value* ih, int64_t j);

  KernelBuilder& kb_;
  bool blocked_;
  int64_t lanes_;
  int64_t pixelStride_;       // elements from one pixel of a channel to the next
  int64_t columnsPerVector_;  // output columns of one vector
  int64_t spanLength_;        // plain layout: elements of a RowSpan
  int64_t planes_;
  int64_t H_, W_, OH_, OW_, kh_, kw_;
  WindowAttrs win_;
  bool rowsMayPad_, columnsMayPad_;
};

}  // namespace cnnc
