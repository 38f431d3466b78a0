#include "runtime/jit.h"

#include <cstdlib>

#include <fmt/format.h>
#include <llvm/ExecutionEngine/JITEventListener.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/SectionMemoryManager.h>

#include "compiler/codegen/llvm_pipeline.h"

namespace cnnc {
namespace {

Error jitError(std::string_view what, llvm::Error error) {
  return Error{fmt::format("JIT: {}: {}", what, llvm::toString(std::move(error)))};
}

// With CNNC_PERF_JITDUMP set, the kernels are announced to Linux perf as
// they load (LLVM's jitdump listener, into $JITDUMPDIR or ~/.debug/jit):
// `perf record -k 1`, then `perf inject --jit`, names every kernel's
// samples, down to its instructions (README, "Using it"). The listener
// attaches to RuntimeDyld, so the JIT then links with it rather than with
// LLJIT's default linker.
std::unique_ptr<llvm::orc::ObjectLayer> perfAnnouncingLayer(llvm::orc::ExecutionSession& session, const llvm::Triple&) {
  auto layer = std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
      session, [] { return std::make_unique<llvm::SectionMemoryManager>(); });
  if (llvm::JITEventListener* perf = llvm::JITEventListener::createPerfJITEventListener())
    layer->registerJITEventListener(*perf);
  else
    fmt::print(stderr, "cnnc: warning: CNNC_PERF_JITDUMP: this build of LLVM cannot write perf's jitdump\n");
  return layer;
}

}  // namespace

Expected<std::unique_ptr<Jit>> Jit::create(const Target& target) {
  if (Status runs = checkHostRuns(target); !runs) return runs.error();
  llvm::orc::LLJITBuilder builder;
  builder.setJITTargetMachineBuilder(machineBuilder(target));
  if (std::getenv("CNNC_PERF_JITDUMP")) builder.setObjectLinkingLayerCreator(perfAnnouncingLayer);
  llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> jit = builder.create();
  if (!jit) return jitError("cannot start", jit.takeError());
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!generator) return jitError("cannot see this process's symbols", generator.takeError());
  (*jit)->getMainJITDylib().addGenerator(std::move(*generator));
  return std::unique_ptr<Jit>(new Jit(std::move(*jit)));
}

Status Jit::addObject(std::unique_ptr<llvm::MemoryBuffer> object) {
  if (llvm::Error error = jit_->addObjectFile(std::move(object))) return jitError("cannot add code", std::move(error));
  return Status::ok();
}

Expected<std::vector<void*>> Jit::lookup(const std::vector<std::string>& symbols) {
  llvm::orc::SymbolLookupSet names;
  for (const std::string& symbol : symbols) names.add(jit_->mangleAndIntern(symbol));
  llvm::Expected<llvm::orc::SymbolMap> found = jit_->getExecutionSession().lookup(
      llvm::orc::makeJITDylibSearchOrder(&jit_->getMainJITDylib()), std::move(names));
  if (!found) return jitError("cannot find the kernels", found.takeError());
  std::vector<void*> addresses;
  for (const std::string& symbol : symbols)
    addresses.push_back((*found)[jit_->mangleAndIntern(symbol)].getAddress().toPtr<void*>());
  return addresses;
}

}  // namespace cnnc
