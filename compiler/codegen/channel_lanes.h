// Per-channel kernels (batch norm, bias gradients, global pooling) as vector
// code over one group of channels per task, the same code for every layout
// of their images.
//
// In a blocked layout (NCHW8c, NCHW16c) the group is one channel block and a
// vector is one pixel's block: lane k is channel k of the block, and a
// per-channel value (a mean, a gamma, a sum) is the vector of the block's
// channels. In the plain layout the group is one channel and a vector is
// consecutive pixels of it: a per-channel value is the same in every lane,
// and sums are added across the lanes at the end.
#pragma once

#include <functional>

#include "compiler/codegen/kernel_builder.h"

namespace cnnc {

class ChannelLanes {
 public:
  // The channel groups of `image` ([N,C,...]): the tasks of a per-channel kernel.
  static int64_t groups(const KernelBuilder& kb, ValueId image);

  // Vectors over channel group `group` (an i64 in [0, groups)) of `image` and
  // of the values that share its dims and layout.
  ChannelLanes(KernelBuilder& kb, ValueId image, llvm::Value* group);

  // A vector of the image: its first element, and the lanes that hold
  // elements of the group (null: all of them).
  struct Position {
    llvm::Value* index;
    llvm::Value* mask;
  };
  // Images [begin, end) of the batch (i64 values).
  struct Images {
    llvm::Value* begin;
    llvm::Value* end;
  };
  Images allImages();
  Images image(llvm::Value* n);
  // Part `part` (an i64) of `parts` parts of the batch, of as many images
  // each as the first (the last ones may have fewer, or none).
  Images part(llvm::Value* part, int64_t parts);

  // body(position) for every vector of the group in `images`.
  void forEachVector(const std::function<void(const Position&)>& body, const Images& images);
  // The same vectors `count` at a time, consecutive: body(positions) for
  // each run of `count` in an image, then for each vector left (a run of one).
  void forEachVectors(int64_t count, const std::function<void(const std::vector<Position>&)>& body,
                      const Images& images);
  // The per-channel sum of term(position) over the same vectors.
  llvm::Value* sum(const std::function<llvm::Value*(const Position&)>& term, const Images& images);
  // The per-channel sums of `count` terms, in one pass: terms(position)
  // returns their vectors.
  using Terms = std::function<std::vector<llvm::Value*>(const Position&)>;
  std::vector<llvm::Value*> sums(size_t count, const Terms& terms, const Images& images);

  llvm::Value* load(ValueId id, const Position& at);
  // The per-channel value of the group's first element (first image, first pixel).
  llvm::Value* first(ValueId id);
  // Stores a vector; past the caches (KernelBuilder::streamVector) where
  // value `id` is blocked and outgrows them.
  void store(ValueId id, const Position& at, llvm::Value* vector);

  // Per-channel values of a plain tensor whose element offset + c belongs to
  // channel c ([C], a row of [2,C], a row of [N,C]).
  llvm::Value* loadPerChannel(ValueId id, llvm::Value* offset);
  void storePerChannel(ValueId id, llvm::Value* offset, llvm::Value* perChannel);

  llvm::Value* constant(double value);

 private:
  KernelBuilder& kb_;
  bool blocked_;
  int64_t lanes_;
  int64_t images_;
  int64_t groups_;
  int64_t elementsPerImage_;  // of one group in one image: pixels times the channels of a pixel's vector
  llvm::Value* group_;
  llvm::Value* firstChannel_;
};

}  // namespace cnnc
