// What every cnnc command-line tool shares: how outcomes become exit codes
// and how output reaches stdout or a file.
//
// Exit codes: 0 success; 1 a user error (bad input), reported as one line
// per problem on stderr; 2 a usage error (unknown flag, missing argument).
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "ir/error.h"

namespace cnnc {

inline constexpr int kExitUserError = 1;
inline constexpr int kExitUsageError = 2;

// Parses the command line with `app`, then calls `run` and maps its Status to
// the exit code. No exception escapes: an unexpected one is reported as an
// internal error with exit code 3 rather than a crash.
int runTool(CLI::App& app, int argc, char** argv, const std::function<Status()>& run);

// Writes `text` to stdout when `outputPath` is empty or "-", else atomically
// to the file.
Status emitText(const std::string& text, const std::string& outputPath);

}  // namespace cnnc
