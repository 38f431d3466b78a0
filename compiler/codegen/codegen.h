// Graph -> LLVM IR: one kernel per computed node, of one function or a few
// run in turn (see kernel_builder.h for the signature and the phases), every shape a constant, spread
// over code units that LLVM can optimise and compile concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/buffer_layout.h"
#include "compiler/codegen/kernel_builder.h"
#include "compiler/target.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

struct KernelInfo {
  ValueId node;
  std::vector<KernelPhase> phases;  // call each with (arena, begin, end) for [begin, end) within [0, tasks)
};

// A module of some of the kernels, in a context of its own: LLVM contexts
// are not thread-safe, so only separate ones can be worked on in parallel.
struct CodeUnit {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  // The LLVM instructions generated into it: what optimising and compiling
  // it costs, about.
  size_t instructions = 0;
};

struct GeneratedCode {
  std::vector<CodeUnit> units;
  // In execution order (see executionOrder in buffer_layout.h), but for the
  // assigns that have nothing to move (assignsInPlace) and the values
  // another node's kernel computes (computingKernels, ir/kernel_results.h).
  std::vector<KernelInfo> kernels;
  BufferLayout layout;
};

// The kernels of `graph` spread over `units` code units, or over fewer if
// there are fewer kernels (but at least one).
Expected<GeneratedCode> generateCode(const Graph& graph, const Target& target, size_t units = 1);

}  // namespace cnnc
