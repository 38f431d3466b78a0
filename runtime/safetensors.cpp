#include "runtime/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "runtime/byte_io.h"
#include "support/file_io.h"

namespace cnnc {
namespace {

using nlohmann::json;

constexpr size_t kLengthFieldSize = 8;
// The reference implementation refuses larger headers too: a bigger length
// means a corrupt or foreign file, not a big model.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr std::string_view kMetadataKey = "__metadata__";

enum class StoredType { F32, F64 };

std::optional<StoredType> storedType(std::string_view name) {
  if (name == "F32") return StoredType::F32;
  if (name == "F64") return StoredType::F64;
  return std::nullopt;
}

int64_t elementSize(StoredType type) { return type == StoredType::F64 ? 8 : 4; }

std::string_view typeName(StoredType type) { return type == StoredType::F64 ? "F64" : "F32"; }

std::string formatDims(const std::vector<int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

// One tensor of the header, checked against the data buffer, not yet decoded.
struct Entry {
  std::string name;
  StoredType type;
  std::vector<int64_t> dims;
  uint64_t begin;
  uint64_t end;
};

// The two parts of a file after the length field.
struct Layout {
  std::string_view header;
  std::string_view buffer;
};

Expected<Layout> splitFile(std::string_view bytes) {
  if (bytes.size() < kLengthFieldSize) {
    return Error{
        fmt::format("file too short for safetensors: {} bytes, but the header length alone takes 8", bytes.size())};
  }
  uint64_t length = loadLittleEndian<uint64_t>(bytes.data());
  if (length > kMaxHeaderSize) {
    return Error{
        fmt::format("header length {} is absurd (limit {} bytes): not a safetensors file", length, kMaxHeaderSize)};
  }
  size_t available = bytes.size() - kLengthFieldSize;
  if (length > available) {
    return Error{fmt::format("truncated file: header length is {} bytes but only {} bytes follow", length, available)};
  }
  return Layout{bytes.substr(kLengthFieldSize, length), bytes.substr(kLengthFieldSize + length)};
}

// nlohmann::json keeps the last of duplicate keys silently; a safetensors
// header must not have any, so the parser callback tracks each open object's keys.
Expected<json> parseHeader(std::string_view text) {
  std::vector<std::set<std::string>> openObjects;
  std::optional<std::string> duplicate;
  json::parser_callback_t trackKeys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      openObjects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      openObjects.pop_back();
    } else if (event == json::parse_event_t::key && !duplicate &&
               !openObjects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), trackKeys);
  } catch (const json::parse_error& error) {
    return Error{fmt::format("header is not valid JSON (syntax error near byte {} of the header)", error.byte)};
  } catch (const json::exception&) {
    return Error{"header is not valid JSON"};
  }
  if (duplicate) return Error{fmt::format("duplicate key \"{}\" in the header", *duplicate)};
  if (!header.is_object()) return Error{"header is not a JSON object"};
  return header;
}

Expected<std::map<std::string, std::string>> parseMetadata(const json& value) {
  if (!value.is_object()) return Error{fmt::format("\"{}\" must be an object of strings", kMetadataKey)};
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) return Error{fmt::format("\"{}\" entry \"{}\" is not a string", kMetadataKey, key)};
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

Status checkEntryKeys(const json& info) {
  if (!info.is_object()) return Error{"must be an object with \"dtype\", \"shape\" and \"data_offsets\""};
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) return Error{fmt::format("missing \"{}\"", key)};
  }
  for (const auto& [key, item] : info.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return Error{fmt::format("unknown key \"{}\"", key)};
    }
  }
  return Status::ok();
}

Expected<StoredType> parseDType(const json& dtype) {
  if (!dtype.is_string()) return Error{"\"dtype\" must be a string"};
  std::optional<StoredType> type = storedType(dtype.get<std::string>());
  if (!type) {
    return Error{fmt::format("unsupported dtype \"{}\" (only F32 and F64 can be read)", dtype.get<std::string>())};
  }
  return *type;
}

Expected<std::vector<int64_t>> parseShape(const json& shape, StoredType type) {
  if (!shape.is_array()) return Error{"\"shape\" must be an array of non-negative integers"};
  Error tooLarge{fmt::format("shape {} is too large (its byte size overflows 64 bits)", shape.dump())};
  std::vector<int64_t> dims;
  for (const json& dim : shape) {
    if (!dim.is_number_unsigned()) return Error{"\"shape\" must be an array of non-negative integers"};
    if (dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return tooLarge;
    dims.push_back(dim.get<int64_t>());
  }
  if (!checkedByteCount(dims, elementSize(type))) return tooLarge;
  return dims;
}

Expected<std::pair<uint64_t, uint64_t>> parseOffsets(const json& offsets) {
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned() || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>()) {
    return Error{"\"data_offsets\" must be [begin, end] with integers 0 <= begin <= end"};
  }
  return std::pair{offsets[0].get<uint64_t>(), offsets[1].get<uint64_t>()};
}

// The entry's byte range must hold exactly its shape and lie in the buffer.
Status checkRange(const Entry& entry, uint64_t bufferSize) {
  auto needed = static_cast<uint64_t>(*checkedByteCount(entry.dims, elementSize(entry.type)));
  if (entry.end - entry.begin != needed) {
    return Error{fmt::format("data_offsets [{}, {}] hold {} bytes, but {} shape {} needs {}", entry.begin, entry.end,
                             entry.end - entry.begin, typeName(entry.type), formatDims(entry.dims), needed)};
  }
  if (entry.end > bufferSize) {
    return Error{fmt::format("data_offsets [{}, {}] lie outside the {}-byte data buffer (truncated file?)", entry.begin,
                             entry.end, bufferSize)};
  }
  return Status::ok();
}

Expected<Entry> parseEntryFields(const std::string& name, const json& info, uint64_t bufferSize) {
  if (Status keys = checkEntryKeys(info); !keys) return keys.error();
  Expected<StoredType> type = parseDType(info.at("dtype"));
  if (!type) return type.error();
  Expected<std::vector<int64_t>> dims = parseShape(info.at("shape"), *type);
  if (!dims) return dims.error();
  Expected<std::pair<uint64_t, uint64_t>> offsets = parseOffsets(info.at("data_offsets"));
  if (!offsets) return offsets.error();
  Entry entry{name, *type, std::move(*dims), offsets->first, offsets->second};
  if (Status range = checkRange(entry, bufferSize); !range) return range.error();
  return entry;
}

Expected<Entry> parseEntry(const std::string& name, const json& info, uint64_t bufferSize) {
  Expected<Entry> entry = parseEntryFields(name, info, bufferSize);
  if (!entry) return Error{fmt::format("tensor \"{}\": {}", name, entry.error().message)};
  return entry;
}

Error uncovered(uint64_t begin, uint64_t end) {
  return Error{fmt::format("data buffer bytes [{}, {}) are not covered by any tensor", begin, end)};
}

// The format requires the tensors to tile the buffer exactly: no overlaps
// (one byte read as two tensors) and no gaps (bytes nobody accounts for).
Status checkCoverage(const std::vector<Entry>& entries, uint64_t bufferSize) {
  std::vector<const Entry*> byOffset;
  for (const Entry& entry : entries) byOffset.push_back(&entry);
  std::sort(byOffset.begin(), byOffset.end(), [](const Entry* a, const Entry* b) {
    return std::pair{a->begin, a->end} < std::pair{b->begin, b->end};
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* entry : byOffset) {
    if (entry->begin < covered) {
      return Error{fmt::format("tensors \"{}\" and \"{}\" overlap in the data buffer", previous->name, entry->name)};
    }
    if (entry->begin > covered) return uncovered(covered, entry->begin);
    covered = entry->end;
    previous = entry;
  }
  if (covered != bufferSize) return uncovered(covered, bufferSize);
  return Status::ok();
}

Tensor decodeTensor(const Entry& entry, std::string_view buffer) {
  std::string_view bytes = buffer.substr(entry.begin, entry.end - entry.begin);
  Tensor tensor;
  tensor.dims = entry.dims;
  tensor.data = entry.type == StoredType::F64 ? decodeLittleEndian<double, float>(bytes)
                                              : decodeLittleEndian<float, float>(bytes);
  return tensor;
}

Expected<SafetensorsFile> parseSafetensors(std::string_view bytes) {
  Expected<Layout> layout = splitFile(bytes);
  if (!layout) return layout.error();
  Expected<json> header = parseHeader(layout->header);
  if (!header) return header.error();
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header->items()) {
    if (name == kMetadataKey) {
      Expected<std::map<std::string, std::string>> metadata = parseMetadata(value);
      if (!metadata) return metadata.error();
      file.metadata = std::move(*metadata);
      continue;
    }
    Expected<Entry> entry = parseEntry(name, value, layout->buffer.size());
    if (!entry) return entry.error();
    entries.push_back(std::move(*entry));
  }
  if (Status coverage = checkCoverage(entries, layout->buffer.size()); !coverage) return coverage.error();
  for (const Entry& entry : entries) file.tensors.emplace(entry.name, decodeTensor(entry, layout->buffer));
  return file;
}

Status checkWritable(const SafetensorsFile& file) {
  for (const auto& [name, tensor] : file.tensors) {
    if (name == kMetadataKey) return Error{fmt::format("\"{}\" is reserved and cannot name a tensor", kMetadataKey)};
    std::optional<int64_t> count = checkedByteCount(tensor.dims, 1);
    if (!count || *count != tensor.size()) {
      return Error{fmt::format("tensor \"{}\": shape {} does not match its {} values", name, formatDims(tensor.dims),
                               tensor.size())};
    }
  }
  return Status::ok();
}

// The JSON header as the reference implementation writes it: compact,
// "__metadata__" first (only if there is any), then the tensors in name order
// with keys dtype, shape, data_offsets, padded with spaces to a multiple of 8
// so that the data buffer starts aligned.
Expected<std::string> headerText(const SafetensorsFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header[kMetadataKey] = file.metadata;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    uint64_t end = offset + tensor.data.size() * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", tensor.dims}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::type_error&) {
    return Error{"tensor names and metadata must be valid UTF-8"};
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

Expected<std::string> encodeSafetensors(const SafetensorsFile& file) {
  if (Status writable = checkWritable(file); !writable) return writable.error();
  Expected<std::string> header = headerText(file);
  if (!header) return header.error();
  std::string bytes;
  appendLittleEndian<uint64_t>(bytes, header->size());
  bytes += *header;
  for (const auto& [name, tensor] : file.tensors) appendLittleEndianArray(bytes, tensor.data);
  return bytes;
}

}  // namespace

Expected<SafetensorsFile> readSafetensors(const std::string& path) {
  Expected<std::string> bytes = readFile(path);
  if (!bytes) return bytes.error();
  return prefixError(path, parseSafetensors(*bytes));
}

Status writeSafetensors(const std::string& path, const SafetensorsFile& file) {
  Expected<std::string> bytes = prefixError(path, encodeSafetensors(file));
  if (!bytes) return bytes.error();
  return writeFileAtomically(path, *bytes);
}

}  // namespace cnnc
