// The command-line contract, through the real binaries: exit codes (0 ok,
// 1 bad input, 2 bad usage), one clear line on stderr, no half-written
// output files, the summary figures and the dump -> cnnc-opt round trip.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/npy.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exitCode = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch directory per test, removed afterwards.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("cnnc-cli-{}-{}", info->name(), ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path file(const std::string& name, const std::string& contents) {
    fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // Runs `command` (already quoted) from the scratch directory.
  Outcome run(const std::string& command) {
    std::string shell = fmt::format("cd '{}' && {} >stdout.txt 2>stderr.txt", dir_.string(), command);
    int status = std::system(shell.c_str());
    Outcome outcome;
    if (WIFEXITED(status)) outcome.exitCode = WEXITSTATUS(status);
    outcome.out = slurp(dir_ / "stdout.txt");
    outcome.err = slurp(dir_ / "stderr.txt");
    return outcome;
  }

  fs::path dir_;
};

const std::string kCnnc = CNNC_BINARY;
const std::string kCnncOpt = CNNC_OPT_BINARY;
const fs::path kExamples = fs::path(CNNC_SOURCE_DIR) / "examples";

TEST_F(CliTest, SummaryOfTheSeedModelMatchesKeras) {
  Outcome r = run(fmt::format("{} summary {}", kCnnc, (kExamples / "seed.json").string()));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "");
  for (std::string shape : {"(32, 30, 30)", "(32, 15, 15)", "(64, 13, 13)", "(64, 6, 6)", "(64, 4, 4)", "(1024)",
                            "(64)", "(10)"})
    EXPECT_NE(r.out.find(shape), std::string::npos) << shape << " missing from\n" << r.out;
  EXPECT_NE(r.out.find("Output shape (C, H, W)"), std::string::npos);
  EXPECT_NE(r.out.find("Total params: 122,570 (478.79 KiB)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Trainable params: 122,570"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Non-trainable params: 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Convolutional base (conv2d_0 .. conv2d_4): 56,320 params"), std::string::npos) << r.out;
}

TEST_F(CliTest, EveryExampleDumpsAndReadsBackIdentically) {
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    ASSERT_EQ(run(fmt::format("{} summary {}", kCnnc, entry.path().string())).exitCode, 0);
    Outcome dump = run(fmt::format("{} dump {} --batch 8 -o model.cnn", kCnnc, entry.path().string()));
    ASSERT_EQ(dump.exitCode, 0) << dump.err;
    EXPECT_EQ(dump.out, "");
    Outcome reread = run(fmt::format("{} model.cnn", kCnncOpt));
    ASSERT_EQ(reread.exitCode, 0) << reread.err;
    EXPECT_EQ(reread.out, slurp(dir_ / "model.cnn"));
  }
}

TEST_F(CliTest, HelpAndUsageErrors) {
  EXPECT_EQ(run(kCnnc + " --help").exitCode, 0);
  Outcome help = run(kCnnc + " dump --help");
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.out.find("--batch"), std::string::npos) << help.out;
  EXPECT_EQ(run(kCnncOpt + " --help").exitCode, 0);
  EXPECT_EQ(run(kCnnc).exitCode, 2);
  EXPECT_EQ(run(kCnnc + " frobnicate").exitCode, 2);
  EXPECT_EQ(run(kCnnc + " summary").exitCode, 2);
  EXPECT_EQ(run(kCnnc + " dump m.json --batch 0").exitCode, 2);
  EXPECT_EQ(run(kCnnc + " dump m.json --bogus").exitCode, 2);
  EXPECT_EQ(run(kCnncOpt).exitCode, 2);
  // --json promises one JSON object, which --per-op's table would follow.
  Outcome both = run(kCnnc + " bench m.json --json --per-op");
  EXPECT_EQ(both.exitCode, 2);
  EXPECT_EQ(both.err.substr(0, both.err.find('\n')), "cnnc: --per-op excludes --json");
}

TEST_F(CliTest, MissingInputFilesAreUserErrors) {
  Outcome r = run(kCnnc + " summary nowhere.json");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, "nowhere.json: cannot read file: No such file or directory\n");
  r = run(kCnncOpt + " nowhere.cnn");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, "nowhere.cnn: cannot read file: No such file or directory\n");
}

TEST_F(CliTest, FailedDumpLeavesNoOutputFile) {
  file("bad.json", "{\"format\": \"cnnc/1\", \"layers\": [");
  Outcome r = run(kCnnc + " dump bad.json -o out.cnn");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_FALSE(fs::exists(dir_ / "out.cnn"));
  r = run(fmt::format("{} dump {} -o missing-dir/out.cnn", kCnnc, (kExamples / "seed.json").string()));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, "missing-dir/out.cnn: cannot create file: No such file or directory\n");
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

// -O and --disable-pass on every command that compiles a model; a wrong
// level or pass name is a usage error naming what is valid.
TEST_F(CliTest, OptimisationOptions) {
  for (std::string command : {"train", "eval", "infer", "grad", "bench", "compile", "dump"}) {
    Outcome help = run(fmt::format("{} {} --help", kCnnc, command));
    EXPECT_EQ(help.exitCode, 0) << command;
    EXPECT_NE(help.out.find("--disable-pass"), std::string::npos) << command << ":\n" << help.out;
    EXPECT_NE(help.out.find("-O "), std::string::npos) << command << ":\n" << help.out;
  }
  const std::string seed = (kExamples / "seed.json").string();
  Outcome unknown = run(fmt::format("{} dump {} --disable-pass fuse", kCnnc, seed));
  EXPECT_EQ(unknown.exitCode, 2);
  EXPECT_EQ(unknown.err.substr(0, unknown.err.find('\n')),
            "cnnc: --disable-pass: unknown pass fuse; the optimisation passes are order-branches, fuse-activations, fuse-activation-gradients, select-layouts, fuse-bias-gradients, select-winograd, choose-tiles, fuse-pooling, fuse-projection-gradients, fuse-residual-adds, fold-batch-norms, fuse-residual-norms, fuse-batch-statistics, inline-batch-norms, use-relu-masks, fuse-adam-moments, interleave-batch");
  Outcome level = run(fmt::format("{} compile {} -O3", kCnnc, seed));
  EXPECT_EQ(level.exitCode, 2);
  EXPECT_NE(level.err.find("-O"), std::string::npos) << level.err;
  EXPECT_EQ(run(fmt::format("{} infer {} --weights w.safetensors --input x.npy -o y.npy --disable-pass x", kCnnc,
                            seed)).exitCode, 2);
  Outcome stage = run(fmt::format("{} dump {} --stage fuse", kCnnc, seed));
  EXPECT_EQ(stage.exitCode, 2);
  EXPECT_NE(stage.err.find("fuse-activations"), std::string::npos) << stage.err;

  // --disable-pass takes one name, never the model after it; a pass that
  // did not run cannot be dumped.
  Outcome disabled = run(fmt::format("{} dump --disable-pass fuse-activations {} -O1", kCnnc, seed));
  EXPECT_EQ(disabled.exitCode, 0) << disabled.err;
  EXPECT_NE(disabled.out.find("= relu %conv2d_0"), std::string::npos) << disabled.out;
  Outcome skipped = run(fmt::format("{} dump {} --stage fuse-activations -O0", kCnnc, seed));
  EXPECT_EQ(skipped.exitCode, 1);
  EXPECT_EQ(skipped.err, "pass fuse-activations does not run for this graph; the passes that ran: import\n");
}

// Code for either instruction set compiles and dumps on any host; only
// running it needs a host that has the instructions. --machine (or
// CNNC_MACHINE) replaces the host's caches and cores, and a bad one is a
// usage error.
TEST_F(CliTest, TargetsTheHostCannotRun) {
  const std::string seed = (kExamples / "seed.json").string();
  Outcome dump = run(fmt::format("{} dump {} --batch 2 --target avx512 --stage llvm", kCnnc, seed));
  ASSERT_EQ(dump.exitCode, 0) << dump.err;
  EXPECT_NE(dump.out.find("<16 x float>"), std::string::npos);
  Outcome compiled = run(fmt::format("{} compile {} --batch 2 --target avx512", kCnnc, seed));
  ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
  const bool runs = compiled.out.find("(not loaded: this machine") == std::string::npos;
  Outcome bench = run(fmt::format("{} bench {} --batch 2 --runs 1 --warmup 1 --target avx512", kCnnc, seed));
  EXPECT_EQ(bench.exitCode, runs ? 0 : 1) << bench.err;
  if (!runs) {
    EXPECT_EQ(bench.err.substr(bench.err.find(" cannot")), " cannot run avx512 code\n");
  }

  Outcome pinned = run(fmt::format("{} dump {} --batch 2 --target avx2 --machine l1=32K,l2=512K,cores=1", kCnnc, seed));
  ASSERT_EQ(pinned.exitCode, 0) << pinned.err;
  Outcome viaEnvironment =
      run(fmt::format("CNNC_MACHINE=l1=32K,l2=512K,cores=1 {} dump {} --batch 2 --target avx2", kCnnc, seed));
  EXPECT_EQ(viaEnvironment.out, pinned.out);
  Outcome bad = run(fmt::format("{} dump {} --machine l2=lots", kCnnc, seed));
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err.substr(0, bad.err.find('\n')), "cnnc: --machine: machine model 'l2=lots': not a valid size");
}

// bench --versus times B, the model compiled with more code options, against
// A in alternating turns; what it cannot parse is a usage error, what it
// cannot compile an error naming --versus.
TEST_F(CliTest, BenchVersus) {
  const std::string bench =
      fmt::format("{} bench {} --batch 2 --runs 3 --warmup 1 --target avx2", kCnnc, (kExamples / "seed.json").string());
  Outcome text = run(bench + " --versus '--disable-pass interleave-batch'");
  ASSERT_EQ(text.exitCode, 0) << text.err;
  EXPECT_NE(text.out.find("seed-cnn train batch 2: A (the command's options) against B (with --disable-pass "
                          "interleave-batch), 3 pairs of turns of "),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("(median of the pairs' ratios; quartiles "), std::string::npos) << text.out;

  // The pairs' ratios: their median between their quartiles.
  Outcome json = run(bench + " --json --versus ''");
  ASSERT_EQ(json.exitCode, 0) << json.err;
  const auto number = [&](const std::string& key) {
    const size_t at = json.out.find("\"" + key + "\":");
    EXPECT_NE(at, std::string::npos) << key << " in " << json.out;
    return at == std::string::npos ? 0.0 : std::strtod(json.out.c_str() + at + key.size() + 3, nullptr);
  };
  EXPECT_EQ(number("pairs"), 3);
  const size_t quartiles = json.out.find("\"b_over_a_quartiles\":[");
  ASSERT_NE(quartiles, std::string::npos) << json.out;
  char* end = nullptr;
  const double low = std::strtod(json.out.c_str() + quartiles + 22, &end);
  const double high = std::strtod(end + 1, nullptr);
  EXPECT_LE(low, number("b_over_a"));
  EXPECT_LE(number("b_over_a"), high);
  EXPECT_NE(json.out.find("\"versus\":\"\""), std::string::npos) << json.out;

  // B on one thread, A on all: a pool of its own.
  Outcome threads = run(bench + " --versus '--threads 1'");
  EXPECT_EQ(threads.exitCode, 0) << threads.err;
  EXPECT_NE(threads.out.find("against B (with --threads 1)"), std::string::npos) << threads.out;

  Outcome unknown = run(bench + " --versus '--bogus'");
  EXPECT_EQ(unknown.exitCode, 2);
  EXPECT_EQ(unknown.err.substr(0, unknown.err.find('\n')),
            "cnnc: --versus: The following argument was not expected: --bogus");
  Outcome pass = run(bench + " --versus '--disable-pass fuse'");
  EXPECT_EQ(pass.exitCode, 2);
  EXPECT_EQ(pass.err.substr(0, pass.err.find(';')), "cnnc: --versus: --disable-pass: unknown pass fuse");
  Outcome tile = run(bench + " --versus '--tile nowhere=1,2'");
  EXPECT_EQ(tile.exitCode, 1);
  EXPECT_EQ(tile.err, "--versus: --tile nowhere=1,2: the graph has no value %nowhere\n");
  Outcome perOp = run(bench + " --per-op --versus -O1");
  EXPECT_EQ(perOp.exitCode, 2);
  EXPECT_EQ(perOp.err.substr(0, perOp.err.find('\n')), "cnnc: --per-op excludes --versus");
}

// With CNNC_PERF_JITDUMP set, the JIT writes Linux perf's jitdump record of
// every kernel it loads (under $JITDUMPDIR/.debug/jit), named as --per-op
// names them; without it, none.
TEST_F(CliTest, AnnouncesKernelsToPerfOnRequest) {
  const std::string bench =
      fmt::format("{} bench {} --batch 2 --runs 1 --warmup 1 --target avx2", kCnnc, (kExamples / "seed.json").string());
  auto dumps = [&] {
    std::vector<fs::path> found;
    if (fs::exists(dir_ / ".debug"))
      for (const auto& entry : fs::recursive_directory_iterator(dir_ / ".debug"))
        if (entry.path().filename().string().starts_with("jit-")) found.push_back(entry.path());
    return found;
  };
  Outcome quiet = run(fmt::format("JITDUMPDIR={} {}", dir_.string(), bench));
  ASSERT_EQ(quiet.exitCode, 0) << quiet.err;
  EXPECT_TRUE(dumps().empty());
  Outcome announced = run(fmt::format("CNNC_PERF_JITDUMP=1 JITDUMPDIR={} {}", dir_.string(), bench));
  ASSERT_EQ(announced.exitCode, 0) << announced.err;
  const std::vector<fs::path> written = dumps();
  ASSERT_EQ(written.size(), 1u);
  EXPECT_NE(slurp(written[0]).find("_conv2d_2_relu"), std::string::npos);
}

// Bad input the user may hand any command: each case is the files it
// writes, the command, and the one line it must print with exit code 1.
struct BadInput {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;
  std::string command;  // "cnnc ..." or "cnnc-opt ..."; run in the scratch directory
  std::string error;
};

// Test names print the case's name, not its bytes.
void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

const std::string kSmallModel =
    R"({"format": "cnnc/1", "input": {"channels": 3, "height": 8, "width": 8}, "layers": [)";

std::vector<BadInput> badInputs() {
  const std::string seed = (kExamples / "seed.json").string();
  return {
      {"kernel_as_string", {{"m.json", kSmallModel + R"({"op": "conv2d", "filters": 4, "kernel_size": "3"}]})"}},
       "cnnc summary m.json", R"(m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got "3")"},
      {"kernel_as_float", {{"m.json", kSmallModel + R"({"op": "conv2d", "filters": 4, "kernel_size": 3.0}]})"}},
       "cnnc summary m.json", "m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got 3.0"},
      {"unknown_op", {{"m.json", kSmallModel + R"({"op": "conv3d", "filters": 4}]})"}}, "cnnc summary m.json",
       R"(m.json: layers[0].op: unknown op "conv3d")"},
      {"unknown_key", {{"m.json", kSmallModel + R"({"op": "flatten", "axis": 1}]})"}}, "cnnc dump m.json",
       R"(m.json: layers[0].axis: unknown key)"},
      {"self_reference", {{"m.json", kSmallModel + R"({"op": "flatten"}, {"op": "dense", "units": 4, "inputs": ["dense_1"]}]})"}},
       "cnnc summary m.json", R"(m.json: layers[1].inputs[0]: layer "dense_1" cannot read its own output)"},
      {"mismatched_add", {{"m.json", kSmallModel + R"({"op": "conv2d", "filters": 4, "kernel_size": 3}, {"op": "add", "inputs": ["input", "conv2d_0"]}]})"}},
       "cnnc summary m.json", "m.json: layers[1]: add operands must have the same type, got f32[1,3,8,8] and f32[1,4,6,6]"},
      {"huge_filters", {{"m.json", kSmallModel + R"({"op": "conv2d", "filters": 1099511627776, "kernel_size": 3}, {"op": "flatten"}]})"}},
       "cnnc summary m.json", "m.json: the tensors of graph @m need 400.0 TiB, over the memory budget of 16.0 GiB"},
      {"truncated_json", {{"m.json", R"({"format": "cnnc/1", "input": {"channels": 3, "height": 8,)"}}, "cnnc summary m.json",
       "m.json:1:59: syntax error: unexpected end of input; expected string literal"},
      {"empty_json", {{"m.json", ""}}, "cnnc dump m.json", "m.json:1:1: syntax error: unexpected end of input; expected '[', '{', or a literal"},
      {"ir_unknown_op", {{"g.cnn", "graph @g {\n  %x = input : f32[1,3,8,8]\n  %y = conv3d %x : f32[1]\n  return %y\n}\n"}},
       "cnnc-opt g.cnn", "g.cnn:3:8: unknown op 'conv3d'"},
      {"ir_cycle", {{"g.cnn", "graph @g {\n  %a = relu %b : f32[2]\n  %b = relu %a : f32[2]\n  return %b\n}\n"}},
       "cnnc-opt g.cnn", "g.cnn:2:13: use of undefined value %b"},
      {"ir_truncated", {{"g.cnn", "graph @g {\n  %x = input : f32[1,"}}, "cnnc-opt g.cnn",
       "g.cnn:2:22: expected an integer but found end of input"},
      {"truncated_weights", {{"w.safetensors", std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"", 11)}},
       "cnnc infer " + seed + " --weights w.safetensors --input x.npy -o out.npy",
       "w.safetensors: truncated file: header length is 16 bytes but only 3 bytes follow"},
      {"missing_images", {}, "cnnc grad " + seed + " --weights w.safetensors --input x.npy --labels y.npy -o g.safetensors",
       "x.npy: cannot read file: No such file or directory"},
      {"no_data_dir", {}, "env -u CNNC_DATA cnnc train " + seed + " --epochs 1",
       "no CIFAR-10 directory: pass --data DIR or set CNNC_DATA"},
      {"data_dir_without_cifar", {}, "cnnc train " + seed + " --epochs 1 --data .",
       "./data_batch_1.bin: CIFAR-10 batch file not found; pass --data DIR or set the CNNC_DATA environment variable "
       "to the cifar-10-batches-bin directory"},
      {"training_without_optimizer", {{"m.json", kSmallModel + R"({"op": "flatten"}, {"op": "dense", "units": 10}]})"}},
       "cnnc train m.json --data .", "m.json: training needs a loss and an optimizer"},
  };
}

class BadInputTest : public CliTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(BadInputTest, ExitsWithOneClearLine) {
  const BadInput& c = GetParam();
  for (const auto& [name, contents] : c.files) file(name, contents);
  std::string command = c.command;
  for (auto [tool, path] : {std::pair{"cnnc-opt ", kCnncOpt}, std::pair{"cnnc ", kCnnc}})
    if (size_t at = command.find(tool); at != std::string::npos) {
      command.replace(at, std::string(tool).size(), path + " ");
      break;
    }
  Outcome r = run(command);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err, c.error + "\n");
  EXPECT_FALSE(fs::exists(dir_ / "out.npy"));
  EXPECT_FALSE(fs::exists(dir_ / "g.safetensors"));
}

INSTANTIATE_TEST_SUITE_P(Cli, BadInputTest, ::testing::ValuesIn(badInputs()),
                         [](const ::testing::TestParamInfo<BadInput>& test) { return test.param.name; });

// A 1-D uint8 .npy file (version 1.0), as numpy.save writes it.
std::string uint8Npy(const std::vector<uint8_t>& values) {
  std::string header = fmt::format("{{'descr': '|u1', 'fortran_order': False, 'shape': ({},), }}", values.size());
  header.resize(128 - 10 - 1, ' ');  // the data starts 64-byte aligned
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += {'\x01', '\x00', static_cast<char>(header.size()), '\x00'};
  bytes += header;
  bytes.append(values.begin(), values.end());
  return bytes;
}

// init -> infer -> grad on the seed model, through the command line.
TEST_F(CliTest, InitInferGradOnTheSeedModel) {
  const std::string seed = (kExamples / "seed.json").string();
  ASSERT_EQ(run(fmt::format("{} init {} -o w.safetensors --seed 5", kCnnc, seed)).exitCode, 0);
  cnnc::Tensor images({3, 3, 32, 32});
  for (size_t i = 0; i < images.data.size(); ++i) images.data[i] = static_cast<float>(i % 17) / 17.0f;
  ASSERT_TRUE(cnnc::writeNpy((dir_ / "x.npy").string(), images));
  Outcome infer = run(fmt::format("{} infer {} --weights w.safetensors --input x.npy -o logits.npy --batch 2", kCnnc, seed));
  ASSERT_EQ(infer.exitCode, 0) << infer.err;
  cnnc::Expected<cnnc::Tensor> logits = cnnc::readNpyFloat((dir_ / "logits.npy").string());
  ASSERT_TRUE(logits);
  EXPECT_EQ(logits->dims, (std::vector<int64_t>{3, 10}));

  // Labels out of range are refused; in range, the loss is printed.
  file("bad.npy", uint8Npy({1, 2, 10}));
  Outcome bad = run(fmt::format("{} grad {} --weights w.safetensors --input x.npy --labels bad.npy -o g.safetensors", kCnnc, seed));
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_EQ(bad.err, "bad.npy: label 10 at index 2 is out of range 0..9\n");
  EXPECT_FALSE(fs::exists(dir_ / "g.safetensors"));
  file("y.npy", uint8Npy({1, 2, 9}));
  Outcome grad = run(fmt::format("{} grad {} --weights w.safetensors --input x.npy --labels y.npy -o g.safetensors", kCnnc, seed));
  ASSERT_EQ(grad.exitCode, 0) << grad.err;
  EXPECT_EQ(grad.out.rfind("loss ", 0), 0u) << grad.out;
  EXPECT_TRUE(fs::exists(dir_ / "g.safetensors"));
}

}  // namespace
