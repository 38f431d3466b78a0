// cnnc-opt: reads textual IR, verifies it and prints it back (later issues
// add --pass=... to run compiler passes on it), in the manner of LLVM's opt.
#include <fmt/format.h>

#include "ir/parser.h"
#include "ir/printer.h"
#include "support/file_io.h"
#include "tools/tool_main.h"

int main(int argc, char** argv) {
  CLI::App app{"cnnc-opt: read, verify and print cnnc textual IR", "cnnc-opt"};
  std::string input;
  std::string output;
  app.add_option("FILE", input, "Textual IR (.cnn)")->required();
  app.add_option("-o,--output", output, "Write to this file instead of stdout");
  return cnnc::runTool(app, argc, argv, [&]() -> cnnc::Status {
    cnnc::Expected<std::string> text = cnnc::readFile(input);
    if (!text) return text.error();
    cnnc::Expected<cnnc::Graph> graph = cnnc::parseGraph(*text, input);
    if (!graph) return graph.error();
    return cnnc::emitText(cnnc::printGraphForUsers(*graph), output);
  });
}
