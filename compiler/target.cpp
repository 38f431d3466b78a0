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

// A size as sysfs and --machine write it: bytes, or a number with K, M or G.
std::optional<int64_t> parseSize(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || value <= 0) return std::nullopt;
  const std::string_view unit(end, text.data() + text.size());
  const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
  if (shift < 0 || value > (int64_t{1} << (40 - shift))) return std::nullopt;
  return value << shift;
}

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
    return parseSize(size);
  }
  return std::nullopt;
}

// Sets the fields `machine` names ("l1=48K,l2=1M,l3=32M,cores=2") in `target`.
Status applyMachine(std::string_view machine, Target& target) {
  while (!machine.empty()) {
    const size_t comma = machine.find(',');
    const std::string_view item = machine.substr(0, comma);
    machine = comma == std::string_view::npos ? std::string_view() : machine.substr(comma + 1);
    const size_t equals = item.find('=');
    const std::string_view key = item.substr(0, equals);
    int64_t* field = key == "l1" ? &target.l1Bytes
                     : key == "l2" ? &target.l2Bytes
                     : key == "l3" ? &target.lastLevelBytes
                     : key == "cores" ? &target.cores
                                      : nullptr;
    if (!field || equals == std::string_view::npos)
      return Error{fmt::format("machine model '{}': expected l1=SIZE, l2=SIZE, l3=SIZE or cores=N", item)};
    std::optional<int64_t> value = parseSize(item.substr(equals + 1));
    if (!value || (field == &target.cores && *value > 4096))
      return Error{fmt::format("machine model '{}': not a valid {}", item, field == &target.cores ? "count" : "size")};
    *field = *value;
  }
  return Status::ok();
}

}  // namespace

bool hostSupports(std::string_view name) {
  const llvm::StringMap<bool> features = hostFeatures();
  if (name == "avx512") return hasAll(features, kAvx512);
  if (name == "avx2") return hasAll(features, kAvx2);
  return false;
}

Expected<Target> selectTarget(std::string_view request, std::string_view machine) {
  const bool hostHasAvx512 = hostSupports("avx512");
  std::string name(request);
  if (request == "host") name = hostHasAvx512 ? "avx512" : "avx2";
  if (name != "avx512" && name != "avx2")
    return Error{fmt::format("unknown target {} (expected host, avx512 or avx2)", request)};
  // AVX-512 code is tuned for the host CPU itself where it has AVX-512, else
  // for x86-64-v4 (the AVX-512 level every AVX-512 server CPU has); AVX2 code
  // for Haswell, the first AVX2 CPU, so that it uses nothing newer even on an
  // AVX-512 host.
  const std::string avx512Cpu = hostHasAvx512 ? llvm::sys::getHostCPUName().str() : "x86-64-v4";
  Target target = name == "avx512" ? Target{name, avx512Cpu, "", 16, 32} : Target{name, "haswell", "", 8, 16};
  target.l1Bytes = hostCache(1).value_or(target.l1Bytes);
  target.l2Bytes = hostCache(2).value_or(target.l2Bytes);
  target.cores = std::max(1u, std::thread::hardware_concurrency());
  target.lastLevelBytes = hostCache(3).value_or(target.l2Bytes * target.cores);
  CNNC_TRY(applyMachine(machine, target));
  return target;
}

Status checkMachineModel(std::string_view machine) {
  Target scratch;
  return applyMachine(machine, scratch);
}

Status checkHostRuns(const Target& target) {
  if (hostSupports(target.name)) return Status::ok();
  return Error{fmt::format("this machine ({}) cannot run {} code", llvm::sys::getHostCPUName().str(), target.name)};
}

}  // namespace cnnc
