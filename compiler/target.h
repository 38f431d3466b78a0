// The machine cnnc generates code for: AVX-512 where the host has it, else
// AVX2 (with FMA), else an error. `--target avx2` builds AVX2 code on an
// AVX-512 host too, so that both paths are tested on one machine.
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

// "host" picks the best the host supports; "avx512" and "avx2" ask for one,
// and fail with a clear message if the host cannot run it.
Expected<Target> selectTarget(std::string_view request);

// Whether the host can run code of target `name`: for tests that skip a
// target the host lacks.
bool hostSupports(std::string_view name);

}  // namespace cnnc
