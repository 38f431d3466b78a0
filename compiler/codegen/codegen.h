// Graph -> LLVM IR: one llvm::Module per compiled graph, one kernel function
// per computed node (see kernel_builder.h for the kernel signature), every
// shape a constant.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/buffer_layout.h"
#include "compiler/target.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

struct KernelInfo {
  std::string symbol;  // the kernel function's name in the module
  ValueId node;
  int64_t tasks;       // call with (arena, begin, end) for [begin, end) within [0, tasks)
};

struct GeneratedCode {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  // In execution order (see executionOrder in buffer_layout.h), but for the
  // assigns that have nothing to move (assignsInPlace).
  std::vector<KernelInfo> kernels;
  BufferLayout layout;
};

Expected<GeneratedCode> generateCode(const Graph& graph, const Target& target);

}  // namespace cnnc
