#include "runtime/npy.h"

#include <cstddef>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/byte_io.h"
#include "support/file_io.h"

namespace cnnc {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kVersionSize = 2;
// NumPy refuses longer headers by default, for the same reason: a longer one
// is corrupt or hostile, never a real array description.
constexpr uint32_t kMaxHeaderLength = 10000;
// numpy.save aligns the data to 64 bytes (for memory mapping) and leaves room
// for the first dimension to grow to 21 digits when appending in place.
constexpr size_t kDataAlignment = 64;
constexpr size_t kGrowthAxisDigits = 21;

// Python's repr of a tuple of ints: (), (5,), (2, 3).
std::string pythonTuple(const std::vector<int64_t>& dims) {
  if (dims.size() == 1) return fmt::format("({},)", dims[0]);
  return fmt::format("({})", fmt::join(dims, ", "));
}

// The header's Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

// Parses the dict as Python's literal syntax allows NumPy writers to spell
// it: keys in any order, any whitespace, an optional trailing comma, either
// quote character, and 1-tuples that need their comma.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  Expected<NpyHeader> parse() {
    NpyHeader header;
    std::set<std::string> seen;
    if (!consume('{')) return expected("'{'");
    while (!consume('}')) {
      Expected<std::string> key = parseString();
      if (!key) return key.error();
      if (!seen.insert(*key).second) return Error{fmt::format("malformed header: duplicate key '{}'", *key)};
      if (!consume(':')) return expected("':'");
      if (Status value = parseValue(*key, header); !value) return value.error();
      if (consume(',')) continue;
      if (!consume('}')) return expected("',' or '}'");
      break;
    }
    skipSpace();
    if (pos_ != text_.size()) {
      return Error{fmt::format("malformed header: unexpected text after the dict at offset {}", pos_)};
    }
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      if (!seen.contains(key)) return Error{fmt::format("malformed header: no '{}' key", key)};
    }
    return header;
  }

 private:
  Status parseValue(const std::string& key, NpyHeader& header) {
    if (key == "descr") return assign(parseString(), header.descr);
    if (key == "fortran_order") return assign(parseBool(), header.fortranOrder);
    if (key == "shape") return assign(parseShape(), header.shape);
    return Error{fmt::format("malformed header: unexpected key '{}'", key)};
  }

  template <class T>
  static Status assign(Expected<T> value, T& field) {
    if (!value) return value.error();
    field = std::move(*value);
    return Status::ok();
  }

  Expected<std::string> parseString() {
    skipSpace();
    if (pos_ == text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return expected("a quoted string");
    size_t close = text_.find(text_[pos_], pos_ + 1);
    if (close == std::string_view::npos) return Error{"malformed header: unterminated string"};
    std::string value(text_.substr(pos_ + 1, close - pos_ - 1));
    pos_ = close + 1;
    return value;
  }

  Expected<bool> parseBool() {
    skipSpace();
    for (bool value : {true, false}) {
      std::string_view word = value ? "True" : "False";
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += word.size();
        return value;
      }
    }
    return expected("True or False");
  }

  Expected<std::vector<int64_t>> parseShape() {
    std::vector<int64_t> dims;
    if (!consume('(')) return expected("a shape tuple");
    if (consume(')')) return dims;
    for (;;) {
      Expected<int64_t> dim = parseDim();
      if (!dim) return dim.error();
      dims.push_back(*dim);
      bool comma = consume(',');
      if (consume(')')) {
        // (5) is just the int 5 in Python: a 1-tuple is spelled (5,).
        if (dims.size() == 1 && !comma) return Error{"malformed header: shape (N) is not a tuple; write (N,)"};
        return dims;
      }
      if (!comma) return expected("',' or ')'");
    }
  }

  Expected<int64_t> parseDim() {
    skipSpace();
    size_t start = pos_;
    int64_t value = 0;
    for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_) {
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, text_[pos_] - '0', &value)) {
        return Error{"malformed header: shape dimension too large"};
      }
    }
    if (pos_ == start) return expected("a non-negative integer");
    return value;
  }

  // Skips whitespace, then takes `c` if it comes next.
  bool consume(char c) {
    skipSpace();
    if (pos_ == text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void skipSpace() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != std::string_view::npos) ++pos_;
  }

  Error expected(std::string_view what) const {
    return Error{fmt::format("malformed header: expected {} at offset {}", what, pos_)};
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// The header text and everything after it, from a file's bytes.
struct Sections {
  std::string_view header;
  std::string_view data;
};

Expected<Sections> splitFile(std::string_view bytes) {
  if (!bytes.starts_with(kMagic)) return Error{"not a .npy file (no \\x93NUMPY magic)"};
  if (bytes.size() < kMagic.size() + kVersionSize) return Error{"truncated file: it ends inside the version"};
  auto major = static_cast<unsigned char>(bytes[kMagic.size()]);
  auto minor = static_cast<unsigned char>(bytes[kMagic.size() + 1]);
  if (major < 1 || major > 3 || minor != 0) return Error{fmt::format("unsupported .npy version {}.{}", major, minor)};
  // Version 1.0 has a 16-bit header length, 2.0 and 3.0 a 32-bit one.
  size_t lengthSize = major == 1 ? 2 : 4;
  const char* lengthField = bytes.data() + kMagic.size() + kVersionSize;
  size_t lengthEnd = kMagic.size() + kVersionSize + lengthSize;
  if (bytes.size() < lengthEnd) return Error{"truncated file: it ends inside the header length"};
  uint32_t length = major == 1 ? loadLittleEndian<uint16_t>(lengthField) : loadLittleEndian<uint32_t>(lengthField);
  if (length > kMaxHeaderLength) {
    return Error{fmt::format("header length {} is absurd (limit {} bytes)", length, kMaxHeaderLength)};
  }
  if (length > bytes.size() - lengthEnd) {
    return Error{fmt::format("truncated file: header length is {} bytes but only {} bytes follow", length,
                             bytes.size() - lengthEnd)};
  }
  return Sections{bytes.substr(lengthEnd, length), bytes.substr(lengthEnd + length)};
}

// An element type a reader accepts, by its exact NumPy descr.
struct ElementType {
  std::string_view descr;
  int64_t size;
};

// The array's raw data, once the header is known to describe exactly the
// bytes that follow it in one of the `accepted` element types.
struct NpyArray {
  std::vector<int64_t> shape;
  std::string_view descr;
  std::string_view data;
};

Expected<ElementType> acceptedType(const NpyHeader& header, std::span<const ElementType> accepted) {
  if (header.fortranOrder) return Error{"Fortran-order arrays are not supported (fortran_order is True)"};
  if (header.descr.starts_with('>')) return Error{fmt::format("big-endian dtype '{}' is not supported", header.descr)};
  if (header.descr.size() >= 2 && header.descr[1] == 'O') return Error{"object arrays are not supported"};
  for (const ElementType& type : accepted) {
    if (header.descr == type.descr) return type;
  }
  std::vector<std::string> names;
  for (const ElementType& type : accepted) names.push_back(fmt::format("'{}'", type.descr));
  return Error{fmt::format("unsupported dtype '{}' (expected {})", header.descr, fmt::join(names, ", "))};
}

Status checkDataSize(const std::vector<int64_t>& shape, const ElementType& type, std::string_view data) {
  std::optional<int64_t> needed = checkedByteCount(shape, type.size);
  if (!needed) return Error{fmt::format("shape {} is absurd (its byte size overflows 64 bits)", pythonTuple(shape))};
  auto expectedSize = static_cast<uint64_t>(*needed);
  if (data.size() < expectedSize) {
    return Error{fmt::format("truncated data: shape {} of '{}' needs {} bytes, the file has {}", pythonTuple(shape),
                             type.descr, expectedSize, data.size())};
  }
  if (data.size() > expectedSize) {
    return Error{
        fmt::format("trailing garbage: {} bytes after the {} bytes of data", data.size() - expectedSize, expectedSize)};
  }
  return Status::ok();
}

Expected<NpyArray> parseNpy(std::string_view bytes, std::span<const ElementType> accepted) {
  Expected<Sections> sections = splitFile(bytes);
  if (!sections) return sections.error();
  Expected<NpyHeader> header = HeaderParser(sections->header).parse();
  if (!header) return header.error();
  Expected<ElementType> type = acceptedType(*header, accepted);
  if (!type) return type.error();
  if (Status size = checkDataSize(header->shape, *type, sections->data); !size) return size.error();
  return NpyArray{std::move(header->shape), type->descr, sections->data};
}

constexpr ElementType kFloatTypes[] = {{"<f4", 4}, {"<f8", 8}};
constexpr ElementType kLabelTypes[] = {{"<i4", 4}, {"<i8", 8}, {"|u1", 1}};

Expected<Tensor> decodeFloat(const NpyArray& array) {
  Tensor tensor;
  tensor.dims = array.shape;
  tensor.data = array.descr == "<f8" ? decodeLittleEndian<double, float>(array.data)
                                     : decodeLittleEndian<float, float>(array.data);
  return tensor;
}

std::vector<int64_t> decodeLabelValues(const NpyArray& array) {
  if (array.descr == "<i8") return decodeLittleEndian<int64_t, int64_t>(array.data);
  if (array.descr == "<i4") return decodeLittleEndian<int32_t, int64_t>(array.data);
  return decodeLittleEndian<uint8_t, int64_t>(array.data);
}

Expected<std::vector<int32_t>> decodeLabels(const NpyArray& array) {
  if (array.shape.size() != 1) {
    return Error{fmt::format("labels must be a 1-D array, got shape {}", pythonTuple(array.shape))};
  }
  std::vector<int64_t> values = decodeLabelValues(array);
  std::vector<int32_t> labels(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] < std::numeric_limits<int32_t>::min() || values[i] > std::numeric_limits<int32_t>::max()) {
      return Error{fmt::format("label {} at index {} is outside the int32 range", values[i], i)};
    }
    labels[i] = static_cast<int32_t>(values[i]);
  }
  return labels;
}

// Reads and checks a file, then decodes its array while the bytes it views
// are still alive.
template <class Decode>
std::invoke_result_t<Decode, const NpyArray&> readNpy(const std::string& path, std::span<const ElementType> accepted,
                                                      Decode decode) {
  Expected<std::string> bytes = readFile(path);
  if (!bytes) return bytes.error();
  Expected<NpyArray> array = prefixError(path, parseNpy(*bytes, accepted));
  if (!array) return array.error();
  return prefixError(path, decode(*array));
}

// The complete header (dict, padding, newline), as numpy.save writes it.
Expected<std::string> headerFor(const std::vector<int64_t>& dims) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", pythonTuple(dims));
  if (!dims.empty()) header.append(kGrowthAxisDigits - std::to_string(dims[0]).size(), ' ');
  size_t used = kMagic.size() + kVersionSize + sizeof(uint16_t) + header.size() + 1;
  header.append(kDataAlignment - used % kDataAlignment, ' ');
  header.push_back('\n');
  if (header.size() > std::numeric_limits<uint16_t>::max()) {
    return Error{fmt::format("{} dimensions are too many for a version 1.0 header", dims.size())};
  }
  return header;
}

Expected<std::string> encodeNpy(const Tensor& tensor) {
  std::optional<int64_t> count = checkedByteCount(tensor.dims, 1);
  if (!count || *count != tensor.size()) {
    return Error{
        fmt::format("shape {} does not match the tensor's {} values", pythonTuple(tensor.dims), tensor.size())};
  }
  Expected<std::string> header = headerFor(tensor.dims);
  if (!header) return header.error();
  std::string bytes(kMagic);
  bytes += std::string_view("\x01\x00", kVersionSize);
  appendLittleEndian(bytes, static_cast<uint16_t>(header->size()));
  bytes += *header;
  appendLittleEndianArray(bytes, tensor.data);
  return bytes;
}

}  // namespace

Expected<Tensor> readNpyFloat(const std::string& path) { return readNpy(path, kFloatTypes, decodeFloat); }

Expected<std::vector<int32_t>> readNpyLabels(const std::string& path) {
  return readNpy(path, kLabelTypes, decodeLabels);
}

Status writeNpy(const std::string& path, const Tensor& tensor) {
  Expected<std::string> bytes = prefixError(path, encodeNpy(tensor));
  if (!bytes) return bytes.error();
  return writeFileAtomically(path, *bytes);
}

}  // namespace cnnc
