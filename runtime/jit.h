// The JIT: a thin wrapper over LLVM's ORC LLJIT, of the size of the
// Kaleidoscope tutorial's. Object files of compiled code go in (see
// emitObject in compiler/codegen/llvm_pipeline.h); functions come out as
// addresses. Symbols the generated code calls (tanhf, expf, ...) resolve to
// this process's C library.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>

#include "compiler/target.h"
#include "ir/error.h"

namespace cnnc {

class Jit {
 public:
  static Expected<std::unique_ptr<Jit>> create(const Target& target);

  Status addObject(std::unique_ptr<llvm::MemoryBuffer> object);
  // The addresses of functions of the added objects, in the order of
  // `symbols`: one lookup links all the objects at once.
  Expected<std::vector<void*>> lookup(const std::vector<std::string>& symbols);

 private:
  explicit Jit(std::unique_ptr<llvm::orc::LLJIT> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace cnnc
