// Helpers shared by the binary tensor formats (.npy, safetensors): both store
// numbers little-endian whatever the host, size their arrays from untrusted
// headers, and report problems as "<path>: <what>".
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/error.h"

namespace cnnc {

namespace byte_io_detail {
template <size_t Size>
struct UnsignedOfSize;
template <>
struct UnsignedOfSize<1> {
  using type = uint8_t;
};
template <>
struct UnsignedOfSize<2> {
  using type = uint16_t;
};
template <>
struct UnsignedOfSize<4> {
  using type = uint32_t;
};
template <>
struct UnsignedOfSize<8> {
  using type = uint64_t;
};
template <class T>
using Bits = typename UnsignedOfSize<sizeof(T)>::type;
}  // namespace byte_io_detail

// The T stored little-endian at bytes[0, sizeof(T)). Assembled byte by byte so
// it is right on any host and needs no alignment; compilers turn it into a load.
template <class T>
T loadLittleEndian(const char* bytes) {
  using U = byte_io_detail::Bits<T>;
  U bits = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    bits = static_cast<U>(bits | static_cast<U>(static_cast<U>(static_cast<unsigned char>(bytes[i])) << (8 * i)));
  }
  return std::bit_cast<T>(bits);
}

template <class T>
void appendLittleEndian(std::string& out, T value) {
  auto bits = std::bit_cast<byte_io_detail::Bits<T>>(value);
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

// Every element of a little-endian array of Stored, converted to Out
// (e.g. float64 on disk to float in memory). A partial last element is ignored:
// callers check the byte count against the shape first.
template <class Stored, class Out>
std::vector<Out> decodeLittleEndian(std::string_view bytes) {
  std::vector<Out> values(bytes.size() / sizeof(Stored));
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<Out>(loadLittleEndian<Stored>(bytes.data() + i * sizeof(Stored)));
  }
  return values;
}

template <class T>
void appendLittleEndianArray(std::string& out, const std::vector<T>& values) {
  out.reserve(out.size() + values.size() * sizeof(T));
  for (T value : values) appendLittleEndian(out, value);
}

// The byte size of an array of `dims` with `elementSize`-byte elements, or
// nothing if a dimension is negative or the size overflows int64: shapes come
// from untrusted headers and must be checked before anything is allocated.
inline std::optional<int64_t> checkedByteCount(const std::vector<int64_t>& dims, int64_t elementSize) {
  int64_t bytes = elementSize;
  for (int64_t dim : dims) {
    if (dim < 0 || __builtin_mul_overflow(bytes, dim, &bytes)) return std::nullopt;
  }
  return bytes;
}

// Parsers report problems without the file name; the public entry points add
// it once, so every message reads "<path>: <what>".
template <class T>
Expected<T> prefixError(const std::string& path, Expected<T> result) {
  if (!result) return Error{path + ": " + result.error().message};
  return result;
}

}  // namespace cnnc
