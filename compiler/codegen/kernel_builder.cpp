#include "compiler/codegen/kernel_builder.h"

#include <fmt/format.h>
#include <llvm/IR/ConstantRange.h>
#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include "ir/batch_group.h"
#include "ir/layout.h"

namespace cnnc {

KernelBuilder::KernelBuilder(llvm::Module& module, const std::string& name, const Graph& graph,
                             const BufferLayout& layout, const Target& target)
    : module_(module), name_(name), graph_(graph), layout_(layout), target_(target), ir_(module.getContext()) {
  // Sums may be reassociated: float results then depend on the schedule, within rounding.
  llvm::FastMathFlags flags;
  flags.setAllowReassoc();
  flags.setAllowContract();
  ir_.setFastMathFlags(flags);
  startFunction(name);
}

void KernelBuilder::startFunction(const std::string& symbol) {
  llvm::LLVMContext& context = module_.getContext();
  auto* i64Type = llvm::Type::getInt64Ty(context);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(context),
                                       {llvm::PointerType::getUnqual(context), i64Type, i64Type}, false);
  function_ = llvm::Function::Create(type, llvm::Function::ExternalLinkage, symbol, module_);
  function_->addFnAttr("min-legal-vector-width", std::to_string(target_.vectorBits()));
  function_->addFnAttr("prefer-vector-width", std::to_string(target_.vectorBits()));
  function_->addFnAttr(llvm::Attribute::NoUnwind);
  // Distinct buffers of one arena never overlap within a kernel's reads and writes.
  function_->addParamAttr(0, llvm::Attribute::NoAlias);
  arena_ = function_->getArg(0);
  begin_ = function_->getArg(1);
  end_ = function_->getArg(2);
  ir_.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function_));
}

llvm::Value* KernelBuilder::i64(int64_t value) { return ir_.getInt64(static_cast<uint64_t>(value)); }
llvm::Value* KernelBuilder::f32(double value) { return llvm::ConstantFP::get(ir_.getFloatTy(), value); }

void KernelBuilder::loop(llvm::Value* begin, llvm::Value* end, const std::function<void(llvm::Value*)>& body,
                         int64_t step) {
  llvm::LLVMContext& context = ir_.getContext();
  llvm::BasicBlock* preheader = ir_.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(context, "loop", function_);
  auto* bodyBlock = llvm::BasicBlock::Create(context, "body", function_);
  auto* exit = llvm::BasicBlock::Create(context, "exit", function_);
  ir_.CreateBr(header);
  ir_.SetInsertPoint(header);
  llvm::PHINode* i = ir_.CreatePHI(ir_.getInt64Ty(), 2, "i");
  i->addIncoming(begin, preheader);
  ir_.CreateCondBr(ir_.CreateICmpSLT(i, end), bodyBlock, exit);
  ir_.SetInsertPoint(bodyBlock);
  body(i);
  llvm::Value* next = ir_.CreateAdd(i, i64(step), "", /*HasNUW=*/true, /*HasNSW=*/true);
  i->addIncoming(next, ir_.GetInsertBlock());
  ir_.CreateBr(header);
  ir_.SetInsertPoint(exit);
}

void KernelBuilder::loop(int64_t begin, int64_t end, const std::function<void(llvm::Value*)>& body, int64_t step) {
  loop(i64(begin), i64(end), body, step);
}

void KernelBuilder::rolledLoop(int64_t begin, int64_t end, const std::function<void(llvm::Value*)>& body) {
  rolledLoop(i64(begin), i64(end), body);
}

void KernelBuilder::rolledLoop(llvm::Value* begin, llvm::Value* end, const std::function<void(llvm::Value*)>& body) {
  llvm::BasicBlock* latch = nullptr;
  loop(begin, end, [&](llvm::Value* i) {
    body(i);
    latch = ir_.GetInsertBlock();
  });
  // The latch's branch back to the header carries the loop's metadata.
  llvm::LLVMContext& context = ir_.getContext();
  llvm::MDNode* disable = llvm::MDNode::get(context, llvm::MDString::get(context, "llvm.loop.unroll.disable"));
  llvm::MDNode* self = llvm::MDNode::getDistinct(context, {nullptr, disable});
  self->replaceOperandWith(0, self);
  latch->getTerminator()->setMetadata(llvm::LLVMContext::MD_loop, self);
}

void KernelBuilder::when(llvm::Value* condition, const std::function<void()>& then) {
  llvm::LLVMContext& context = ir_.getContext();
  auto* thenBlock = llvm::BasicBlock::Create(context, "then", function_);
  auto* join = llvm::BasicBlock::Create(context, "join", function_);
  ir_.CreateCondBr(condition, thenBlock, join);
  ir_.SetInsertPoint(thenBlock);
  then();
  ir_.CreateBr(join);
  ir_.SetInsertPoint(join);
}

llvm::Type* KernelBuilder::elementType(ValueId id) {
  switch (graph_.node(id).type.dtype) {
    case DType::F32: return ir_.getFloatTy();
    case DType::F64: return ir_.getDoubleTy();
    case DType::I32: return ir_.getInt32Ty();
    case DType::I64: return ir_.getInt64Ty();
    case DType::B1: return ir_.getInt8Ty();  // bytes of eight bits, which loadBits and storeBits address
  }
  return ir_.getFloatTy();
}

namespace {

// The integer `value` of `like`'s type: a scalar, or a vector of it.
llvm::Value* constantLike(llvm::Value* like, int64_t value) {
  return llvm::ConstantInt::get(like->getType(), static_cast<uint64_t>(value), /*IsSigned=*/true);
}

}  // namespace

llvm::Value* KernelBuilder::index(std::initializer_list<llvm::Value*> coords, const std::vector<int64_t>& dims) {
  llvm::Value* linear = nullptr;
  size_t axis = 0;
  for (llvm::Value* coord : coords) {
    linear = linear ? ir_.CreateAdd(ir_.CreateMul(linear, constantLike(coord, dims[axis])), coord) : coord;
    ++axis;
  }
  return linear;
}

llvm::Value* KernelBuilder::at(ValueId id, std::initializer_list<llvm::Value*> coords) {
  const TensorType& type = graph_.node(id).type;
  if (type.layout == Layout::Plain) return index(coords, type.dims);
  // Row-major over the dims with the blocked axis divided by b, then the
  // position inside the block.
  const int64_t b = layoutBlock(type.layout), blocked = blockedAxis(type.layout);
  llvm::Value* linear = constantLike(*coords.begin(), 0);
  llvm::Value* inner = nullptr;
  int64_t axis = 0;
  for (llvm::Value* coord : coords) {
    int64_t extent = type.dims[static_cast<size_t>(axis)];
    if (axis == blocked) {
      inner = ir_.CreateSRem(coord, constantLike(coord, b));
      coord = ir_.CreateSDiv(coord, constantLike(coord, b));
      extent /= b;
    }
    linear = ir_.CreateAdd(ir_.CreateMul(linear, constantLike(coord, extent)), coord);
    ++axis;
  }
  return ir_.CreateAdd(ir_.CreateMul(linear, constantLike(linear, b)), inner);
}

llvm::Value* KernelBuilder::elementPtr(ValueId id, llvm::Value* index) {
  llvm::Value* base = ir_.CreateConstInBoundsGEP1_64(ir_.getInt8Ty(), arena_, static_cast<uint64_t>(layout_.offsets[id]));
  // Not inbounds: the lanes of a masked vector access may start before the
  // buffer (at a padded border); masked-off lanes are never touched.
  return ir_.CreateGEP(elementType(id), base, index);
}

llvm::Value* KernelBuilder::load(ValueId id, llvm::Value* index) {
  return ir_.CreateLoad(elementType(id), elementPtr(id, index));
}

void KernelBuilder::store(ValueId id, llvm::Value* index, llvm::Value* value) {
  ir_.CreateStore(value, elementPtr(id, index));
}

llvm::AllocaInst* KernelBuilder::variable(llvm::Type* type, llvm::Value* initial) {
  // Allocas in the entry block, so that mem2reg turns them into registers.
  llvm::IRBuilder<> entry(&function_->getEntryBlock(), function_->getEntryBlock().begin());
  llvm::AllocaInst* slot = entry.CreateAlloca(type);
  ir_.CreateStore(initial, slot);
  return slot;
}

llvm::Value* KernelBuilder::scratch(int64_t floats) {
  llvm::IRBuilder<> entry(&function_->getEntryBlock(), function_->getEntryBlock().begin());
  llvm::AllocaInst* array = entry.CreateAlloca(llvm::ArrayType::get(ir_.getFloatTy(), static_cast<uint64_t>(floats)));
  array->setAlignment(llvm::Align(64));
  return array;
}

llvm::Value* KernelBuilder::loadScratch(llvm::Value* array, llvm::Value* index, int64_t lanes) {
  llvm::Type* type = lanes == 1 ? ir_.getFloatTy() : static_cast<llvm::Type*>(vectorType(lanes));
  return ir_.CreateAlignedLoad(type, ir_.CreateInBoundsGEP(ir_.getFloatTy(), array, index), llvm::Align(4));
}

void KernelBuilder::storeScratch(llvm::Value* array, llvm::Value* index, llvm::Value* value) {
  ir_.CreateAlignedStore(value, ir_.CreateInBoundsGEP(ir_.getFloatTy(), array, index), llvm::Align(4));
}

llvm::VectorType* KernelBuilder::vectorType() { return vectorType(width()); }
llvm::Value* KernelBuilder::splat(llvm::Value* scalar) { return splat(scalar, width()); }
llvm::Value* KernelBuilder::laneIds() { return laneIds(width()); }

llvm::VectorType* KernelBuilder::vectorType(int64_t lanes) {
  return llvm::FixedVectorType::get(ir_.getFloatTy(), static_cast<unsigned>(lanes));
}

llvm::Value* KernelBuilder::splat(llvm::Value* scalar, int64_t lanes) {
  return ir_.CreateVectorSplat(static_cast<unsigned>(lanes), scalar);
}

llvm::Value* KernelBuilder::laneIds(int64_t lanes) {
  std::vector<llvm::Constant*> ids;
  for (int64_t lane = 0; lane < lanes; ++lane) ids.push_back(ir_.getInt64(static_cast<uint64_t>(lane)));
  return llvm::ConstantVector::get(ids);
}

llvm::Value* KernelBuilder::loadVector(ValueId id, llvm::Value* index, int64_t lanes, llvm::Value* mask) {
  llvm::VectorType* type = vectorType(lanes);
  if (!mask) return ir_.CreateAlignedLoad(type, elementPtr(id, index), llvm::Align(4));
  return ir_.CreateMaskedLoad(type, elementPtr(id, index), llvm::Align(4), mask, llvm::Constant::getNullValue(type));
}

void KernelBuilder::storeVector(ValueId id, llvm::Value* index, llvm::Value* vector, llvm::Value* mask) {
  if (!mask) {
    ir_.CreateAlignedStore(vector, elementPtr(id, index), llvm::Align(4));
    return;
  }
  ir_.CreateMaskedStore(vector, elementPtr(id, index), llvm::Align(4), mask);
}

bool KernelBuilder::outgrowsCaches(ValueId id) const {
  // A batch group's kernels read what its producers write a chunk at a
  // time, from the cache (ir/batch_group.h).
  const Node& node = graph_.node(id);
  return *byteSize(node.type) > target_.lastLevelBytes / 2 && !batchGroupOf(node);  // verified to fit
}

void KernelBuilder::streamVector(ValueId id, llvm::Value* index, llvm::Value* vector) {
  // Buffers start at 64-byte boundaries (buffer_layout.h), so a whole
  // vector at a multiple of its lanes is aligned to its size, as
  // non-temporal stores of whole vectors need.
  const uint64_t bytes = llvm::cast<llvm::FixedVectorType>(vector->getType())->getNumElements() * 4;
  llvm::StoreInst* store = ir_.CreateAlignedStore(vector, elementPtr(id, index), llvm::Align(bytes));
  store->setMetadata(llvm::LLVMContext::MD_nontemporal,
                     llvm::MDNode::get(ir_.getContext(), llvm::ConstantAsMetadata::get(ir_.getInt32(1))));
  streams_ = true;
}

void KernelBuilder::prefetch(ValueId id, llvm::Value* index, bool nearest) {
  // llvm.prefetch(address, read, locality 3 (L1) or 2 (L2), data).
  ir_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ir_.getPtrTy()},
                      {elementPtr(id, index), ir_.getInt32(0), ir_.getInt32(nearest ? 3 : 2), ir_.getInt32(1)});
}

void KernelBuilder::zero(ValueId id, llvm::Value* index, int64_t count) {
  const int64_t bytes = count * dtypeBits(graph_.node(id).type.dtype) / 8;
  ir_.CreateMemSet(elementPtr(id, index), ir_.getInt8(0), static_cast<uint64_t>(bytes), llvm::Align(4));
}

llvm::Value* KernelBuilder::loadBits(ValueId id, llvm::Value* index, int64_t lanes) {
  // Byte index / 8 holds bit index % 8 (elementType: a b1 value's bytes).
  llvm::Value* byte = elementPtr(id, ir_.CreateLShr(index, i64(3)));
  if (lanes == 1) {
    llvm::Value* shift = ir_.CreateTrunc(ir_.CreateAnd(index, i64(7)), ir_.getInt8Ty());
    return ir_.CreateTrunc(ir_.CreateLShr(ir_.CreateLoad(ir_.getInt8Ty(), byte), shift), ir_.getInt1Ty());
  }
  llvm::Value* bits = ir_.CreateAlignedLoad(ir_.getIntNTy(static_cast<unsigned>(lanes)), byte, llvm::Align(1));
  return ir_.CreateBitCast(bits, llvm::FixedVectorType::get(ir_.getInt1Ty(), static_cast<unsigned>(lanes)));
}

void KernelBuilder::storeBits(ValueId id, llvm::Value* index, llvm::Value* bits) {
  const unsigned lanes = llvm::cast<llvm::FixedVectorType>(bits->getType())->getNumElements();
  ir_.CreateAlignedStore(ir_.CreateBitCast(bits, ir_.getIntNTy(lanes)), elementPtr(id, ir_.CreateLShr(index, i64(3))),
                         llvm::Align(1));
}

llvm::Value* KernelBuilder::firstLanes(llvm::Value* count) { return ir_.CreateICmpSLT(laneIds(), splat(count)); }

llvm::Value* KernelBuilder::loadLanes(ValueId id, llvm::Value* base, int64_t stride, llvm::Value* mask) {
  if (stride == 1) return loadVector(id, base, width(), mask);
  // Masked-off lanes may point anywhere: the gather does not touch them.
  return gatherLanes(id, ir_.CreateAdd(splat(base), ir_.CreateMul(laneIds(), splat(i64(stride)))), mask);
}

llvm::Value* KernelBuilder::gatherLanes(ValueId id, llvm::Value* indices, llvm::Value* mask) {
  llvm::VectorType* type = vectorType(llvm::cast<llvm::FixedVectorType>(indices->getType())->getNumElements());
  return ir_.CreateMaskedGather(type, elementPtr(id, indices), llvm::Align(4), mask, llvm::Constant::getNullValue(type));
}

void KernelBuilder::storeLanes(ValueId id, llvm::Value* base, llvm::Value* vector, llvm::Value* mask) {
  storeVector(id, base, vector, mask);
}

llvm::Value* KernelBuilder::fma(llvm::Value* a, llvm::Value* b, llvm::Value* c) {
  return ir_.CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, b, c});
}

llvm::Value* KernelBuilder::opaqueCopy(llvm::Value* value, const std::string& label) {
  // Not a side effect: copies of one label may merge, or leave a loop.
  llvm::FunctionType* type = llvm::FunctionType::get(value->getType(), {value->getType()}, false);
  return ir_.CreateCall(llvm::InlineAsm::get(type, "# " + label, "=r,0", /*hasSideEffects=*/false), {value});
}

llvm::Value* KernelBuilder::smin(llvm::Value* a, llvm::Value* b) {
  return ir_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, a, b);
}

llvm::Value* KernelBuilder::smax(llvm::Value* a, llvm::Value* b) {
  return ir_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, a, b);
}

llvm::Value* KernelBuilder::sum(llvm::Value* vector) { return ir_.CreateFAddReduce(f32(0.0), vector); }

llvm::Value* KernelBuilder::callMath(llvm::Intrinsic::ID id, llvm::Value* x) {
  return ir_.CreateUnaryIntrinsic(id, x);
}

llvm::Value* KernelBuilder::callLibm(const char* name, llvm::Value* x) {
  llvm::FunctionCallee callee =
      module_.getOrInsertFunction(name, llvm::FunctionType::get(ir_.getFloatTy(), {ir_.getFloatTy()}, false));
  return ir_.CreateCall(callee, {x});
}

void KernelBuilder::nextPhase(int64_t tasks) {
  finish(tasks);
  startFunction(fmt::format("{}_phase{}", name_, phases_.size()));
}

void KernelBuilder::finish(int64_t tasks) {
  // Non-temporal stores are weakly ordered: the fence orders them before
  // whatever tells the next kernel that this one is done.
  if (streams_) ir_.CreateIntrinsic(llvm::Intrinsic::x86_sse_sfence, {}, {});
  streams_ = false;
  ir_.CreateRetVoid();
  // The bounds of (begin, end) as argument ranges: LLVM then drops the task
  // loop of a one-task kernel and sees the constant trip counts inside it.
  // Without them it unrolls task loops by a runtime count and vectorizes
  // their inner loops for any length, which costs compile time (in loop
  // strength reduction above all) and gains nothing.
  const llvm::ConstantRange bounds(llvm::APInt(64, 0), llvm::APInt(64, static_cast<uint64_t>(tasks) + 1));
  const llvm::Attribute range = llvm::Attribute::get(ir_.getContext(), llvm::Attribute::Range, bounds);
  function_->addParamAttr(1, range);
  function_->addParamAttr(2, range);
  const bool even = batchImages_ > 0 && tasks > 0 && (tasks % batchImages_ == 0 || batchImages_ % tasks == 0);
  phases_.push_back({function_->getName().str(), tasks, even ? batchImages_ : 0});
  batchImages_ = 0;
}

Accumulators::Accumulators(KernelBuilder& kb, size_t count, const std::function<llvm::Value*(size_t)>& initial)
    : kb_(kb) {
  for (size_t k = 0; k < count; ++k) slots_.push_back(kb.variable(kb.vectorType(), kb.splat(initial(k))));
}

llvm::Value* Accumulators::get(size_t k) { return kb_.ir().CreateLoad(kb_.vectorType(), slots_[k]); }

void Accumulators::set(size_t k, llvm::Value* value) { kb_.ir().CreateStore(value, slots_[k]); }

void Accumulators::fma(size_t k, llvm::Value* a, llvm::Value* b) { set(k, kb_.fma(a, b, get(k))); }

}  // namespace cnnc
