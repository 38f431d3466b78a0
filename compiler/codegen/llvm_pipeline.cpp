#include "compiler/codegen/llvm_pipeline.h"

#include <mutex>

#include <fmt/format.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/PassInstrumentation.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>

namespace cnnc {

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

llvm::orc::JITTargetMachineBuilder machineBuilder(const Target& target) {
  initializeNativeTarget();
  llvm::orc::JITTargetMachineBuilder builder{llvm::Triple(llvm::sys::getProcessTriple())};
  builder.setCPU(target.cpu);
  builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  if (!target.features.empty()) builder.addFeatures({target.features});
  return builder;
}

Expected<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const Target& target) {
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> machine = machineBuilder(target).createTargetMachine();
  if (!machine) return Error{fmt::format("cannot create a code generator for {}: {}", target.name,
                                         llvm::toString(machine.takeError()))};
  return std::move(*machine);
}

void optimizeModule(llvm::Module& module, llvm::TargetMachine& machine) {
  module.setTargetTriple(machine.getTargetTriple().str());
  module.setDataLayout(machine.createDataLayout());
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager cgscc;
  llvm::ModuleAnalysisManager modules;
  // O3 but for LoopLoadElimination, which forwards a value stored in one
  // iteration of a loop to a load of it in a later one: the kernels keep
  // such values in registers themselves, so it finds nothing (the assembly
  // of the seed, ResNet and VGG is byte-identical without it, on both
  // targets, training at batches 32 and 128 and inference at 1), and its
  // loop-access analysis of their long loop bodies took 9% of O3's time.
  llvm::PassInstrumentationCallbacks instrumentation;
  instrumentation.registerShouldRunOptionalPassCallback(
      [](llvm::StringRef pass, llvm::Any) { return pass != "LoopLoadEliminationPass"; });
  llvm::PassBuilder passes(&machine, llvm::PipelineTuningOptions(), std::nullopt, &instrumentation);
  passes.registerModuleAnalyses(modules);
  passes.registerCGSCCAnalyses(cgscc);
  passes.registerFunctionAnalyses(functions);
  passes.registerLoopAnalyses(loops);
  passes.crossRegisterProxies(loops, functions, cgscc, modules);
  passes.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, modules);
}

namespace {

// The module as an object file or as assembly text, by `machine`'s code generator.
Expected<llvm::SmallVector<char, 0>> emitFile(llvm::Module& module, llvm::TargetMachine& machine,
                                              llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream stream(bytes);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, stream, nullptr, type))
    return Error{"the code generator cannot emit this kind of file"};
  passes.run(module);
  return bytes;
}

}  // namespace

Expected<std::unique_ptr<llvm::MemoryBuffer>> emitObject(llvm::Module& module, llvm::TargetMachine& machine) {
  Expected<llvm::SmallVector<char, 0>> bytes = emitFile(module, machine, llvm::CodeGenFileType::ObjectFile);
  if (!bytes) return bytes.error();
  return std::unique_ptr<llvm::MemoryBuffer>(std::make_unique<llvm::SmallVectorMemoryBuffer>(
      std::move(*bytes), module.getModuleIdentifier(), /*RequiresNullTerminator=*/false));
}

Expected<std::string> emitAssembly(llvm::Module& module, llvm::TargetMachine& machine) {
  Expected<llvm::SmallVector<char, 0>> bytes = emitFile(module, machine, llvm::CodeGenFileType::AssemblyFile);
  if (!bytes) return bytes.error();
  return std::string(bytes->begin(), bytes->end());
}

std::string printModule(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  return text;
}

}  // namespace cnnc
