// The subcommands of the `cnnc` driver. Each add function declares its
// subcommand's options on `parent` and returns the action that runs when the
// user chose it.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "ir/error.h"

namespace cnnc {

struct Command {
  CLI::App* app;
  std::function<Status()> run;
};

Command addSummaryCommand(CLI::App& parent);
Command addDumpCommand(CLI::App& parent);
Command addCompileCommand(CLI::App& parent);
Command addInitCommand(CLI::App& parent);
Command addInferCommand(CLI::App& parent);
Command addGradCommand(CLI::App& parent);
Command addTrainCommand(CLI::App& parent);
Command addEvalCommand(CLI::App& parent);
Command addBenchCommand(CLI::App& parent);

}  // namespace cnnc
