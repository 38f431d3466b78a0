// The generated-code backend: a graph compiled to LLVM IR, optimised with O3,
// JIT-compiled to native code for a Target, and run over one arena that
// holds every value of the graph.
#pragma once

#include <memory>

#include "compiler/target.h"
#include "runtime/executable.h"

namespace cnnc {

// Seconds spent in each phase of compiling one graph.
struct CompileTimes {
  double codegen = 0;      // graph -> LLVM IR
  double optimize = 0;     // LLVM's O3 pipeline
  double machineCode = 0;  // LLVM IR -> native code, in the JIT
};

// Compiles graphs for `target`; `times`, if given, accumulates the phases.
Backend jitBackend(const Target& target, CompileTimes* times = nullptr);

}  // namespace cnnc
