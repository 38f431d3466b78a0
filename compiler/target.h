// The machine cnnc generates code for: AVX-512 where the host has it, else
// AVX2 (with FMA). Either can be asked for on any host: `--target avx2` builds
// AVX2 code on an AVX-512 host, so that both paths are tested on one machine,
// and `--target avx512` builds (and dumps) AVX-512 code on an AVX2 host.
// Only running the code needs a host that has the instructions
// (checkHostRuns).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ir/error.h"

namespace cnnc {

struct Target {
  std::string name;      // "avx512" or "avx2"
  std::string cpu;       // LLVM CPU name given to the code generator
  std::string features;  // LLVM feature string, e.g. "+avx2,+fma,..."
  int vectorWidth = 8;   // f32 lanes of one vector register: 16 or 8
  int vectorRegisters = 16;  // 32 with AVX-512
  // Per-core data caches of the host, which tiling sizes its blocks for.
  int64_t l1Bytes = 32 << 10;
  int64_t l2Bytes = 1 << 20;
  // The last-level cache, which the cores share (the L3 where there is
  // one): whether a kernel's result is still cached when the next kernel
  // reads it.
  int64_t lastLevelBytes = 2 << 20;
  // Cores of the host, which tiling splits work among.
  int64_t cores = 1;
  // Vector registers are used at full width: without this LLVM would split
  // 512-bit vectors on CPUs it tunes for 256 bits.
  int vectorBits() const { return vectorWidth * 32; }
  // Vector registers a register-blocked kernel may give its accumulators,
  // beside the few that hold the operands it loads and broadcasts.
  int64_t accumulatorRegisters() const { return vectorRegisters - 4; }
};

// "host" picks the best the host supports; "avx512" and "avx2" ask for one.
// The cache sizes and cores that tiling plans for are the host's, except
// those `machine` names: "l1=48K,l2=1M,l3=32M,cores=2", any of the four
// (sizes in bytes, or with K, M or G), for code tuned for another machine,
// or the same dumps on every host (the golden tests).
Expected<Target> selectTarget(std::string_view request, std::string_view machine = "");

// The error selectTarget gives for `machine`, if any: for a command line
// that checks its options before it compiles.
Status checkMachineModel(std::string_view machine);

// A clear error unless the host can run `target`'s code: the check before
// generated code is loaded to run.
Status checkHostRuns(const Target& target);

// Whether the host can run code of target `name`: for tests that skip a
// target the host lacks.
bool hostSupports(std::string_view name);

}  // namespace cnnc
