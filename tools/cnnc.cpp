// cnnc: the compiler driver. One subcommand per job; see `cnnc --help`.
#include <vector>

#include "tools/commands.h"
#include "tools/tool_main.h"

int main(int argc, char** argv) {
  CLI::App app{"cnnc: a graph compiler and runtime for convolutional neural networks", "cnnc"};
  app.require_subcommand(1);
  std::vector<cnnc::Command> commands = {
      cnnc::addSummaryCommand(app),
      cnnc::addDumpCommand(app),
      cnnc::addCompileCommand(app),
      cnnc::addInitCommand(app),
      cnnc::addInferCommand(app),
      cnnc::addGradCommand(app),
      cnnc::addTrainCommand(app),
      cnnc::addEvalCommand(app),
      cnnc::addBenchCommand(app),
  };
  return cnnc::runTool(app, argc, argv, [&]() -> cnnc::Status {
    for (const cnnc::Command& command : commands)
      if (command.app->parsed()) return command.run();
    return cnnc::Error{"cnnc: no subcommand given"};
  });
}
