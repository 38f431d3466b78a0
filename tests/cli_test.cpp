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

}  // namespace
