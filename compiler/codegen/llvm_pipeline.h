// From LLVM IR to machine code: the target machine for a Target, LLVM's O3
// pipeline (new pass manager), the object file for the JIT and the assembly
// text for `--stage asm`.
#pragma once

#include <memory>
#include <string>

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/target.h"
#include "ir/error.h"

namespace cnnc {

// Initialises LLVM's native target once per process.
void initializeNativeTarget();

// The description of the code generator for `target`: the JIT and
// createTargetMachine both build from it.
llvm::orc::JITTargetMachineBuilder machineBuilder(const Target& target);

Expected<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const Target& target);

// Sets the module's triple and data layout for `machine` and runs O3 on it
// (less a pass that finds nothing in cnnc's kernels, llvm_pipeline.cpp).
void optimizeModule(llvm::Module& module, llvm::TargetMachine& machine);

// The machine code of an optimised module, as an object file for the JIT to link.
Expected<std::unique_ptr<llvm::MemoryBuffer>> emitObject(llvm::Module& module, llvm::TargetMachine& machine);

// The assembly of an optimised module.
Expected<std::string> emitAssembly(llvm::Module& module, llvm::TargetMachine& machine);

// The module as LLVM IR text.
std::string printModule(const llvm::Module& module);

}  // namespace cnnc
