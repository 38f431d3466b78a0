#include "runtime/jit.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>

#include "compiler/codegen/llvm_pipeline.h"

namespace cnnc {
namespace {

Error jitError(std::string_view what, llvm::Error error) {
  return Error{fmt::format("JIT: {}: {}", what, llvm::toString(std::move(error)))};
}

}  // namespace

Expected<std::unique_ptr<Jit>> Jit::create(const Target& target) {
  llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(machineBuilder(target)).create();
  if (!jit) return jitError("cannot start", jit.takeError());
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!generator) return jitError("cannot see this process's symbols", generator.takeError());
  (*jit)->getMainJITDylib().addGenerator(std::move(*generator));
  return std::unique_ptr<Jit>(new Jit(std::move(*jit)));
}

Status Jit::addModule(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context) {
  module->setDataLayout(jit_->getDataLayout());
  if (llvm::Error error = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
    return jitError("cannot add module", std::move(error));
  return Status::ok();
}

Expected<void*> Jit::lookup(const std::string& symbol) {
  llvm::Expected<llvm::orc::ExecutorAddr> address = jit_->lookup(symbol);
  if (!address) return jitError(fmt::format("cannot find {}", symbol), address.takeError());
  return address->toPtr<void*>();
}

}  // namespace cnnc
