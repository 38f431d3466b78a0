// The building blocks every kernel emitter uses: one LLVM function per graph
// node, `void kernel(ptr arena, i64 begin, i64 end)`, computing the tasks
// [begin, end) of the node (the runtime may split a node's tasks across
// threads), or a few such functions run one after another (phases). Loops
// have constant trip counts wherever the shapes are constants, which they
// always are: LLVM sees exact bounds and needs no remainder guesswork.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/buffer_layout.h"
#include "compiler/target.h"
#include "ir/graph.h"

namespace cnnc {

// One function of a node's kernel and its number of tasks. A node's phases
// run in order, each once all tasks of the one before are done: the partial
// sums of a reduction split across tasks, then their total.
//
// A phase whose tasks split the batch in order, evenly, says so with the
// batch's images: task t works on images [t * images / tasks, (t + 1) *
// images / tasks) if tasks divide images, on image t * images / tasks if
// images divide tasks, and reads and writes those images only of the
// values that hold a batch. The runtime may then run such phases of a
// batch group (ir/batch_group.h) a chunk of images at a time. 0 otherwise.
struct KernelPhase {
  std::string symbol;
  int64_t tasks;
  int64_t images = 0;
};

class KernelBuilder {
 public:
  KernelBuilder(llvm::Module& module, const std::string& name, const Graph& graph, const BufferLayout& layout,
                const Target& target);

  llvm::IRBuilder<>& ir() { return ir_; }
  const Graph& graph() const { return graph_; }
  int width() const { return target_.vectorWidth; }
  const Target& target() const { return target_; }
  llvm::Value* taskBegin() const { return begin_; }
  llvm::Value* taskEnd() const { return end_; }

  llvm::Value* i64(int64_t value);
  llvm::Value* f32(double value);

  // for (i = begin; i < end; i += step) body(i), with i64 counters.
  void loop(llvm::Value* begin, llvm::Value* end, const std::function<void(llvm::Value*)>& body, int64_t step = 1);
  void loop(int64_t begin, int64_t end, const std::function<void(llvm::Value*)>& body, int64_t step = 1);
  // The same, telling LLVM not to unroll it: for the long reduction loops
  // around register-blocked bodies, and the short ones around such loops,
  // whose unrolling only costs compile time.
  void rolledLoop(int64_t begin, int64_t end, const std::function<void(llvm::Value*)>& body);
  void rolledLoop(llvm::Value* begin, llvm::Value* end, const std::function<void(llvm::Value*)>& body);
  // if (condition) then()
  void when(llvm::Value* condition, const std::function<void()>& then);

  // The row-major linear index of `coords` in a tensor of `dims`. Here and
  // in at(), coords may also be i64 vectors, all of them: indices of lanes.
  llvm::Value* index(std::initializer_list<llvm::Value*> coords, const std::vector<int64_t>& dims);
  const std::vector<int64_t>& dims(ValueId id) const { return graph_.node(id).type.dims; }
  // The position in value `id`'s buffer of the element at logical `coords`
  // (all of its axes), following its layout (ir/layout.h).
  llvm::Value* at(ValueId id, std::initializer_list<llvm::Value*> coords);

  // Scalar access to element `index` (i64) of value `id`'s buffer, of its element type.
  llvm::Value* load(ValueId id, llvm::Value* index);
  void store(ValueId id, llvm::Value* index, llvm::Value* value);
  // A float that lives across loop iterations (an accumulator): a stack slot.
  llvm::AllocaInst* variable(llvm::Type* type, llvm::Value* initial);
  // An array of `floats` floats on the stack, 64-byte aligned: scratch of
  // the function's own, and so of the thread running it.
  llvm::Value* scratch(int64_t floats);
  // Element `index` (i64) of such an array, `lanes` floats from it as a
  // vector (a float if lanes is 1); and storing one there.
  llvm::Value* loadScratch(llvm::Value* array, llvm::Value* index, int64_t lanes);
  void storeScratch(llvm::Value* array, llvm::Value* index, llvm::Value* value);

  // Vectors of width() f32 lanes.
  llvm::VectorType* vectorType();
  llvm::Value* splat(llvm::Value* scalar);
  // <0, 1, ..., width-1> as i64 lanes.
  llvm::Value* laneIds();
  // The same with `lanes` lanes: a blocked layout's vectors have its block
  // size, whatever the target's width.
  llvm::VectorType* vectorType(int64_t lanes);
  llvm::Value* splat(llvm::Value* scalar, int64_t lanes);
  llvm::Value* laneIds(int64_t lanes);
  // The contiguous elements [index, index + lanes) of value `id` as a
  // vector, where `mask` is set (0 elsewhere; every lane if mask is null).
  llvm::Value* loadVector(ValueId id, llvm::Value* index, int64_t lanes, llvm::Value* mask = nullptr);
  void storeVector(ValueId id, llvm::Value* index, llvm::Value* vector, llvm::Value* mask = nullptr);
  // Whether value `id` is larger than half the last-level cache: the next
  // kernel, whose other operands share that cache, finds little of it
  // cached, so storing it through the caches only costs a read of every
  // line before it is written. Smaller results are worth keeping there:
  // ResNet's 8 MiB batch-norm results, with a 32 MiB L3, trained 6% faster
  // stored through it than streamed past it, and its 32 MiB ones (batch
  // 512) 1-4% slower.
  bool outgrowsCaches(ValueId id) const;
  // The same as storeVector without a mask, past the caches (a
  // non-temporal store): `index` must be a multiple of the vector's lanes.
  // The kernel's function then ends with a store fence, so that the
  // stores are visible to the kernels after it.
  void streamVector(ValueId id, llvm::Value* index, llvm::Value* vector);
  // Asks the caches for the line holding element `index` of value `id`,
  // which the kernel reads soon: into L1 when `nearest`, else into L2 (for
  // reads further off, which would evict what L1 holds for the work in between).
  void prefetch(ValueId id, llvm::Value* index, bool nearest);
  // Sets elements [index, index + count) of value `id` to zero.
  void zero(ValueId id, llvm::Value* index, int64_t count);
  // Lanes [base, base + width) of value `id` where `mask` is set (0 elsewhere):
  // contiguous elements when stride is 1, a gather otherwise.
  llvm::Value* loadLanes(ValueId id, llvm::Value* base, int64_t stride, llvm::Value* mask);
  // Lanes at arbitrary element indices (an i64 vector, of any lane count)
  // where `mask` is set (every lane if mask is null).
  llvm::Value* gatherLanes(ValueId id, llvm::Value* indices, llvm::Value* mask);
  void storeLanes(ValueId id, llvm::Value* base, llvm::Value* vector, llvm::Value* mask);
  // Bits [index, index + lanes) of b1 value `id` (ir/fused_relu_mask.h) as
  // <lanes x i1>, or bit `index` as an i1 when lanes is 1; and storing
  // such a vector. Vectors of bits lie at multiples of 8, in whole bytes:
  // the lanes of a channel block (8 or 16).
  llvm::Value* loadBits(ValueId id, llvm::Value* index, int64_t lanes);
  void storeBits(ValueId id, llvm::Value* index, llvm::Value* bits);
  // Lanes whose id is below `count` (an i64): the mask of a partial vector.
  llvm::Value* firstLanes(llvm::Value* count);
  llvm::Value* fma(llvm::Value* a, llvm::Value* b, llvm::Value* c);
  // i64 `value` through an empty inline asm that `label` names: the same
  // number, which LLVM cannot see, so that loads addressed from copies of
  // different labels are never merged into one value kept in a register.
  llvm::Value* opaqueCopy(llvm::Value* value, const std::string& label);
  // Signed integer minimum and maximum (of i64 scalars or vectors).
  llvm::Value* smin(llvm::Value* a, llvm::Value* b);
  llvm::Value* smax(llvm::Value* a, llvm::Value* b);
  llvm::Value* sum(llvm::Value* vector);  // horizontal, in any order

  // Calls a unary libm function (tanhf, ...) or intrinsic on a float.
  llvm::Value* callMath(llvm::Intrinsic::ID id, llvm::Value* x);
  llvm::Value* callLibm(const char* name, llvm::Value* x);

  // Ends the current phase, of `tasks` tasks, and starts the next, whose
  // function is named after the first with the phase's number.
  void nextPhase(int64_t tasks);
  // Ends the kernel's last phase, of `tasks` tasks: the runtime calls each
  // phase with 0 <= begin <= end <= its tasks only.
  void finish(int64_t tasks);
  // Declares that the current phase's tasks split the batch of `images`
  // images in order (KernelPhase), which finish checks is even.
  void splitsBatch(int64_t images) { batchImages_ = images; }
  const std::vector<KernelPhase>& phases() const { return phases_; }

 private:
  void startFunction(const std::string& symbol);
  llvm::Value* elementPtr(ValueId id, llvm::Value* index);
  llvm::Type* elementType(ValueId id);

  llvm::Module& module_;
  const std::string name_;
  std::vector<KernelPhase> phases_;  // the ended ones
  const Graph& graph_;
  const BufferLayout& layout_;
  const Target& target_;
  llvm::Function* function_;
  llvm::IRBuilder<> ir_;
  llvm::Value* arena_;
  llvm::Value* begin_;
  llvm::Value* end_;
  bool streams_ = false;  // the function being built has non-temporal stores
  int64_t batchImages_ = 0;  // splitsBatch of the function being built
};

// Vector accumulators that live in registers across a reduction loop (stack
// slots that mem2reg promotes): accumulator k starts as initial(k) splatted.
class Accumulators {
 public:
  Accumulators(KernelBuilder& kb, size_t count, const std::function<llvm::Value*(size_t)>& initial);
  llvm::Value* get(size_t k);
  void set(size_t k, llvm::Value* value);
  // accumulator k += a * b
  void fma(size_t k, llvm::Value* a, llvm::Value* b);

 private:
  KernelBuilder& kb_;
  std::vector<llvm::AllocaInst*> slots_;
};

}  // namespace cnnc
