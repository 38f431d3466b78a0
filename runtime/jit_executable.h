// The generated-code backend: a graph compiled to LLVM IR, optimised with O3,
// JIT-compiled to native code for a Target, and run over one arena that
// holds every value of the graph.
#pragma once

#include <memory>

#include "compiler/target.h"
#include "runtime/executable.h"
#include "support/phase_times.h"

namespace cnnc {

// Compiles graphs for `target`; `times`, if given, records the phases
// "codegen" (graph -> LLVM IR), "llvm-O3", "machine-code" (object files) and
// "jit-link" (the objects loaded to run). The executables share one pool of
// `threads` threads (<= 0: all cores), which splits every kernel's tasks
// and, in the two LLVM phases, the compiling (runtime/parallel_compile.h).
Backend jitBackend(const Target& target, PhaseTimes* times = nullptr, int threads = 0);

// The same phases up to the object files, without loading them to run: what
// `cnnc compile` does for a target the host cannot run (compiler/target.h).
Status compileWithoutLoading(const Graph& graph, const Target& target, PhaseTimes* times);

}  // namespace cnnc
