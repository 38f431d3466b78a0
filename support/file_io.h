// Reading input files whole, and writing output files so that they are never
// left half-written: content goes to a temporary file in the same directory,
// renamed over the destination only once complete. On failure nothing is
// created at the destination.
#pragma once

#include <string>
#include <string_view>

#include "ir/error.h"

namespace cnnc {

Status writeFileAtomically(const std::string& path, std::string_view contents);

// The whole file, or "<path>: cannot read file: <reason>". Files larger than
// `maxBytes` are refused rather than read (a model file is small; a path
// such as /dev/zero would otherwise grow without end).
inline constexpr size_t kMaxTextFileBytes = size_t{256} << 20;
Expected<std::string> readFile(const std::string& path, size_t maxBytes = kMaxTextFileBytes);

}  // namespace cnnc
