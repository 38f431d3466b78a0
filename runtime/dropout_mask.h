// The dropout mask as a pure function of (seed, step, element index): a
// counter-based hash rather than a stateful generator, so that a step's mask
// is the same on every backend, on every thread split, and after resuming
// from a checkpoint (which stores the step).
#pragma once

#include <cstdint>

namespace cnnc {

// SplitMix64's finaliser: a bijective mix of all 64 bits.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits: exact in float.
constexpr float dropoutUniform(uint64_t seed, uint64_t step, uint64_t index) {
  uint64_t h = mix64(mix64(mix64(seed) ^ step) ^ index);
  return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
}

// Inverted dropout: an element is kept with probability 1 - rate and then
// scaled by 1 / (1 - rate), so that inference needs no scaling.
constexpr float dropoutMaskValue(uint64_t seed, uint64_t step, uint64_t index, float rate) {
  return dropoutUniform(seed, step, index) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

}  // namespace cnnc
