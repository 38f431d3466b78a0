#include "compiler/target.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>

namespace cnnc {
namespace {

llvm::StringMap<bool> hostFeatures() { return llvm::sys::getHostCPUFeatures(); }

bool hasAll(const llvm::StringMap<bool>& features, const std::vector<std::string_view>& names) {
  for (std::string_view name : names) {
    auto it = features.find(name);
    if (it == features.end() || !it->second) return false;
  }
  return true;
}

// AVX-512 code uses the foundation, double/quad-word and vector-length
// extensions that every AVX-512 server CPU since Skylake-SP has.
const std::vector<std::string_view> kAvx512 = {"avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"};
const std::vector<std::string_view> kAvx2 = {"avx2", "fma", "f16c"};

// The size of the host's level-`level` data (or unified) cache of one core,
// from sysfs ("48K"), if it tells.
std::optional<int64_t> hostCache(int level) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", index);
    std::ifstream levelFile(dir + "level"), typeFile(dir + "type"), sizeFile(dir + "size");
    int found = 0;
    std::string type, size;
    if (!(levelFile >> found) || !(typeFile >> type) || !(sizeFile >> size)) break;
    if (found != level || type == "Instruction") continue;
    int64_t value = 0;
    auto [end, error] = std::from_chars(size.data(), size.data() + size.size(), value);
    if (error != std::errc() || value <= 0) return std::nullopt;
    const std::string_view unit(end, size.data() + size.size());
    if (unit == "K") return value << 10;
    if (unit == "M") return value << 20;
    return unit.empty() ? std::optional<int64_t>(value) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

bool hostSupports(std::string_view name) {
  const llvm::StringMap<bool> features = hostFeatures();
  if (name == "avx512") return hasAll(features, kAvx512);
  if (name == "avx2") return hasAll(features, kAvx2);
  return false;
}

Expected<Target> selectTarget(std::string_view request) {
  std::string name(request);
  if (request == "host") name = hostSupports("avx512") ? "avx512" : "avx2";
  if (name != "avx512" && name != "avx2")
    return Error{fmt::format("unknown target {} (expected host, avx512 or avx2)", request)};
  if (!hostSupports(name))
    return Error{fmt::format("this machine ({}) cannot run {} code", llvm::sys::getHostCPUName().str(), name)};
  // AVX-512 code is tuned for the host CPU itself; AVX2 code for Haswell, the
  // first AVX2 CPU, so that it uses nothing newer even on an AVX-512 host.
  Target target = name == "avx512" ? Target{name, llvm::sys::getHostCPUName().str(), "", 16, 32}
                                    : Target{name, "haswell", "", 8, 16};
  target.l1Bytes = hostCache(1).value_or(target.l1Bytes);
  target.l2Bytes = hostCache(2).value_or(target.l2Bytes);
  target.cores = std::max(1u, std::thread::hardware_concurrency());
  target.lastLevelBytes = hostCache(3).value_or(target.l2Bytes * target.cores);
  return target;
}

}  // namespace cnnc
