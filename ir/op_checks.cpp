#include "ir/op_checks.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/shape_inference.h"

namespace cnnc::checks {

Error fail(std::string message) { return Error{std::move(message)}; }

bool isFloat(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }
bool isInteger(DType dtype) { return dtype == DType::I32 || dtype == DType::I64; }

Status arity(Op op, size_t count) {
  auto n = static_cast<int>(count);
  int lo = minOperands(op), hi = maxOperands(op);
  if (n >= lo && (hi < 0 || n <= hi)) return Status::ok();
  std::string expected = hi < 0 ? fmt::format("at least {}", lo)
                         : lo == hi ? fmt::format("{}", lo)
                                    : fmt::format("{} or {}", lo, hi);
  return fail(fmt::format("{} takes {} operands, got {}", mnemonic(op), expected, n));
}

Status floatOperand(Op op, const TensorType& type, std::string_view role, int64_t rank) {
  if (!isFloat(type.dtype))
    return fail(fmt::format("{} {} must be f32 or f64, got {}", mnemonic(op), role, toString(type)));
  if (rank >= 0 && type.rank() != rank)
    return fail(fmt::format("{} {} must have rank {}, got {}", mnemonic(op), role, rank, toString(type)));
  return Status::ok();
}

Status sameDType(Op op, const std::vector<TensorType>& operands) {
  for (const TensorType& t : operands)
    if (t.dtype != operands[0].dtype)
      return fail(fmt::format("{} operands must share one element type, got {} and {}", mnemonic(op),
                              toString(operands[0]), toString(t)));
  return Status::ok();
}

Status sameTypes(Op op, const std::vector<TensorType>& operands) {
  for (size_t i = 0; i < operands.size(); ++i)
    CNNC_TRY(floatOperand(op, operands[i], fmt::format("operand {}", i)));
  for (const TensorType& t : operands)
    if (t != operands[0])
      return fail(fmt::format("{} operands must have the same type, got {} and {}", mnemonic(op),
                              toString(operands[0]), toString(t)));
  return Status::ok();
}

Status attributeNames(Op op, const AttributeMap& attrs, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : attrs)
    if (std::find(known.begin(), known.end(), key) == known.end())
      return fail(fmt::format("{} has no attribute {}", mnemonic(op), key));
  return Status::ok();
}

Expected<IntList> intsAttr(Op op, const AttributeMap& attrs, std::string_view key, size_t size, int64_t minimum) {
  std::optional<IntList> list = getInts(attrs, key);
  if (!list || list->size() != size)
    return fail(fmt::format("{} needs attribute {} as a list of {} integers", mnemonic(op), key, size));
  for (int64_t v : *list)
    if (v < minimum)
      return fail(fmt::format("{} attribute {} must have entries >= {}, got {}", mnemonic(op), key, minimum,
                              toString(Attribute(*list))));
  return *list;
}

Expected<int64_t> intAttr(Op op, const AttributeMap& attrs, std::string_view key, int64_t minimum) {
  std::optional<int64_t> value = getInt(attrs, key);
  if (!value) return fail(fmt::format("{} needs integer attribute {}", mnemonic(op), key));
  if (*value < minimum)
    return fail(fmt::format("{} attribute {} must be >= {}, got {}", mnemonic(op), key, minimum, *value));
  return *value;
}

Expected<double> floatAttr(Op op, const AttributeMap& attrs, std::string_view key, double lo, double hi,
                           bool hiInclusive) {
  std::optional<double> value = getFloat(attrs, key);
  if (!value) return fail(fmt::format("{} needs float attribute {}", mnemonic(op), key));
  if (!(*value >= lo && (hiInclusive ? *value <= hi : *value < hi)))
    return fail(fmt::format("{} attribute {} must be in [{}, {}{}, got {}", mnemonic(op), key, lo, hi,
                            hiInclusive ? "]" : ")", *value));
  return *value;
}

Expected<std::pair<int64_t, int64_t>> windowOutput(Op op, const TensorType& x, int64_t kh, int64_t kw,
                                                   const AttributeMap& attrs) {
  Expected<IntList> strides = intsAttr(op, attrs, "strides", 2, 1);
  if (!strides) return strides.error();
  Expected<IntList> pads = intsAttr(op, attrs, "pads", 4, 0);
  if (!pads) return pads.error();
  const IntList& p = *pads;
  Expected<int64_t> h = windowOutputSize(x.dims[2], kh, (*strides)[0], p[0], p[2]);
  if (!h) return fail(fmt::format("{} height: {}", mnemonic(op), h.error().message));
  Expected<int64_t> w = windowOutputSize(x.dims[3], kw, (*strides)[1], p[1], p[3]);
  if (!w) return fail(fmt::format("{} width: {}", mnemonic(op), w.error().message));
  return std::pair{*h, *w};
}

}  // namespace cnnc::checks
