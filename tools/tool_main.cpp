#include "tools/tool_main.h"

#include <cstdio>

#include <fmt/format.h>

#include "support/file_io.h"

namespace cnnc {

int runTool(CLI::App& app, int argc, char** argv, const std::function<Status()>& run) {
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      fmt::print("{}", app.help());
      return 0;
    } catch (const CLI::CallForAllHelp&) {
      fmt::print("{}", app.help("", CLI::AppFormatMode::All));
      return 0;
    } catch (const CLI::ParseError& e) {
      fmt::print(stderr, "{}: {}\nRun with --help for more information.\n", app.get_name(), e.what());
      return kExitUsageError;
    }
    Status status = run();
    if (status) return 0;
    std::fflush(stdout);
    fmt::print(stderr, "{}\n", status.error().message);
    return kExitUserError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error: {}\n", app.get_name(), e.what());
    return 3;
  }
}

Status emitText(const std::string& text, const std::string& outputPath) {
  if (outputPath.empty() || outputPath == "-") {
    fmt::print("{}", text);
    return Status::ok();
  }
  return writeFileAtomically(outputPath, text);
}

}  // namespace cnnc
