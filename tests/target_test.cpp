// Targets: either instruction set is selectable on any host (code can be
// generated and dumped for a machine other than this one), only running it
// needs the host; --machine's caches and cores replace the host's.
#include <gtest/gtest.h>

#include "compiler/target.h"

namespace cnnc {
namespace {

TEST(Target, EitherInstructionSetOnAnyHost) {
  Expected<Target> avx512 = selectTarget("avx512");
  ASSERT_TRUE(avx512) << avx512.error().message;
  EXPECT_EQ(avx512->vectorWidth, 16);
  EXPECT_EQ(avx512->vectorRegisters, 32);
  EXPECT_FALSE(avx512->cpu.empty());
  Expected<Target> avx2 = selectTarget("avx2");
  ASSERT_TRUE(avx2) << avx2.error().message;
  EXPECT_EQ(avx2->vectorWidth, 8);
  EXPECT_EQ(avx2->cpu, "haswell");
  Expected<Target> host = selectTarget("host");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->name, hostSupports("avx512") ? "avx512" : "avx2");
  EXPECT_FALSE(selectTarget("sse2"));
}

TEST(Target, OnlyRunningNeedsTheHost) {
  for (std::string name : {"avx512", "avx2"}) {
    Status runs = checkHostRuns(*selectTarget(name));
    EXPECT_EQ(static_cast<bool>(runs), hostSupports(name)) << name;
    if (!runs) {
      EXPECT_NE(runs.error().message.find("cannot run " + name + " code"), std::string::npos);
    }
  }
}

TEST(Target, MachineModelReplacesTheHostsCaches) {
  Expected<Target> pinned = selectTarget("avx512", "l1=48K,l2=1M,l3=32M,cores=2");
  ASSERT_TRUE(pinned) << pinned.error().message;
  EXPECT_EQ(pinned->l1Bytes, 48 << 10);
  EXPECT_EQ(pinned->l2Bytes, 1 << 20);
  EXPECT_EQ(pinned->lastLevelBytes, 32 << 20);
  EXPECT_EQ(pinned->cores, 2);
  Expected<Target> host = selectTarget("avx512");
  Expected<Target> one = selectTarget("avx512", "l2=3000000");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->l2Bytes, 3000000);
  EXPECT_EQ(one->l1Bytes, host->l1Bytes);
  EXPECT_EQ(one->cores, host->cores);
}

TEST(Target, BadMachineModelsSayWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"l4=1M", "machine model 'l4=1M': expected l1=SIZE, l2=SIZE, l3=SIZE or cores=N"},
      {"l2", "machine model 'l2': expected l1=SIZE, l2=SIZE, l3=SIZE or cores=N"},
      {"l1=48X", "machine model 'l1=48X': not a valid size"},
      {"l1=0", "machine model 'l1=0': not a valid size"},
      {"l1=-4K", "machine model 'l1=-4K': not a valid size"},
      {"l3=99999999G", "machine model 'l3=99999999G': not a valid size"},
      {"cores=100000", "machine model 'cores=100000': not a valid count"},
      {"l1=48K,,l2=1M", "machine model '': expected l1=SIZE, l2=SIZE, l3=SIZE or cores=N"},
  };
  for (const auto& [machine, message] : cases) {
    Expected<Target> target = selectTarget("avx2", machine);
    ASSERT_FALSE(target) << machine;
    EXPECT_EQ(target.error().message, message);
  }
}

}  // namespace
}  // namespace cnnc
