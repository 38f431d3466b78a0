// The JIT: a thin wrapper over LLVM's ORC LLJIT, of the size of the
// Kaleidoscope tutorial's. Modules go in optimised; functions come out as
// addresses. Symbols the generated code calls (tanhf, expf, ...) resolve
// to this process's C library.
#pragma once

#include <memory>
#include <string>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>

#include "compiler/target.h"
#include "ir/error.h"

namespace cnnc {

class Jit {
 public:
  static Expected<std::unique_ptr<Jit>> create(const Target& target);

  Status addModule(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context);
  // The address of a function of an added module; the first lookup
  // generates the module's machine code.
  Expected<void*> lookup(const std::string& symbol);

 private:
  explicit Jit(std::unique_ptr<llvm::orc::LLJIT> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace cnnc
