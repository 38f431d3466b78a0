// LLVM's share of compiling, spread over the runtime's threads: the code
// units of a graph (compiler/codegen/codegen.h) are optimised and then
// compiled to object files concurrently, each thread taking the next unit
// as soon as it is done with one.
#pragma once

#include <memory>
#include <vector>

#include <llvm/Support/MemoryBuffer.h>

#include "compiler/codegen/codegen.h"
#include "compiler/target.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace cnnc {

// How many code units to generate for compiling on `pool`.
size_t codeUnitsFor(const ThreadPool& pool);

// Runs the optimisation pipeline (optimizeModule) on every unit.
Status optimizeUnits(std::vector<CodeUnit>& units, const Target& target, ThreadPool& pool);

// The object file of every (optimised) unit, in the order of `units`.
Expected<std::vector<std::unique_ptr<llvm::MemoryBuffer>>> compileUnits(std::vector<CodeUnit>& units,
                                                                        const Target& target, ThreadPool& pool);

}  // namespace cnnc
