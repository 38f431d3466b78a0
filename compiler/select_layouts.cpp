// Layout selection: chooses channel-blocked layouts (ir/layout.h) for whole
// chains of convolutions and the ops between them, forward and backward
// together, and inserts relayout nodes only at the chains' edges.
//
// Values that must share a layout (the 4-D operands and result of an
// elementwise op, a pooling, a batch norm, ... with a blocked kernel) form
// one class. A class is blocked when every member can be (an image with a
// multiple of the block in channels, not a leaf) and a convolution produces
// one of them: the convolutions are what the blocked layout is for. Members
// that no blocked kernel produces are computed plain and converted once for
// their users. Filters are packed for blocked convolutions, and
// conv2d_bwd_data with stride 1 becomes a convolution of the output gradient
// with the transposed filter, so that the forward kernel serves it; the
// others (strided) keep their op and read the filter blocked along its
// input channels (emit_conv_blocked_backward_data.cpp).
#include <algorithm>
#include <functional>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "compiler/codegen/blocked_kernels.h"
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_residual.h"
#include "ir/layout.h"

namespace cnnc {
namespace {

// Union-find over values.
class Classes {
 public:
  explicit Classes(size_t size) : parent_(size) { std::iota(parent_.begin(), parent_.end(), ValueId{0}); }
  ValueId find(ValueId v) {
    while (parent_[v] != v) v = parent_[v] = parent_[parent_[v]];
    return v;
  }
  void unite(ValueId a, ValueId b) { parent_[find(a)] = find(b); }

 private:
  std::vector<ValueId> parent_;
};

// Images and filters: the 4-D float tensors.
bool isBlockable(const Node& node) { return node.type.rank() == 4 && node.type.dtype == DType::F32; }

// The padding with which conv2d_bwd_data (dy, w) is conv2d(dy, transposed w)
// at stride 1, or nothing when the node is strided or the padding would be
// negative. pads are [top, left, bottom, right].
std::optional<IntList> transposedPads(const Graph& graph, const Node& node) {
  const IntList strides = *getInts(node.attrs, "strides"), pads = *getInts(node.attrs, "pads");
  if (strides != IntList{1, 1}) return std::nullopt;
  const std::vector<int64_t>& w = graph.node(node.operands[1]).type.dims;
  const std::vector<int64_t>& dy = graph.node(node.operands[0]).type.dims;
  const std::vector<int64_t>& dx = node.type.dims;
  const int64_t top = w[2] - 1 - pads[0], left = w[3] - 1 - pads[1];
  IntList result = {top, left, dx[2] - dy[2] - top + w[2] - 1, dx[3] - dy[3] - left + w[3] - 1};
  for (int64_t pad : result)
    if (pad < 0) return std::nullopt;
  return result;
}

bool isConvolution(Op op) { return op == Op::Conv2D || op == Op::Conv2DBackwardData; }

// Whether node `id` can produce a blocked result, and whether it is one the
// blocked layout is chosen for.
bool producesBlocked(const Graph& graph, ValueId id, Layout image) {
  const Node& node = graph.node(id);
  return isConvolution(node.op) || (sharesOneLayout(node.op) && hasBlockedKernel(node.op, image));
}

class LayoutSelection {
 public:
  LayoutSelection(const Graph& graph, int64_t block)
      : graph_(graph),
        block_(block),
        rebuilder_(graph),
        classes_(graph.size()),
        classLayout_(graph.size(), Layout::Plain),
        layout_(graph.size(), Layout::Plain) {}

  Expected<Graph> run() {
    chooseClasses();
    for (ValueId id = 0; id < graph_.size(); ++id) {
      Expected<ValueId> now = rebuild(id);
      if (!now) return now.error();
      rebuilder_.setMapped(id, *now);
    }
    return rebuilder_.finish(graph_.outputs());
  }

 private:
  void chooseClasses() {
    for (ValueId id = 0; id < graph_.size(); ++id) {
      const Node& node = graph_.node(id);
      // An op without a blocked kernel takes its operands plain, whatever their class.
      if (!sharesOneLayout(node.op) ||
          !(hasBlockedKernel(node.op, activationLayout(block_)) || hasBlockedKernel(node.op, filterLayout(block_))))
        continue;
      std::optional<ValueId> first;
      for (ValueId v : node.operands) {
        if (!isBlockable(graph_.node(v))) continue;
        if (first) classes_.unite(v, *first);
        first = first.value_or(v);
      }
      if (first && isBlockable(node)) classes_.unite(*first, id);
    }
    // Images: classes with a convolution or a filter gradient's output
    // gradient, no leaves, channels in whole blocks. A filter gradient reads
    // its output gradient blocked even where a kernel without a blocked form
    // makes it (a global pool's gradient): one relayout of it costs a pass
    // over it, the plain filter-gradient kernel ten times the blocked one's time.
    chooseFor(activationLayout(block_),
              [&](ValueId id) { return isConvolution(graph_.node(id).op) || isFilterGradientsOutputGradient(id); },
              [&](const Node& node) { return !isLeaf(node.op) && node.type.dims[1] % block_ == 0; },
              [&](ValueId id) { return producesBlocked(graph_, id, activationLayout(block_)); });
    // Filters: classes with a param that a blocked convolution reads, whose
    // optimizer state and updates then stay packed too.
    chooseFor(filterLayout(block_), [&](ValueId id) { return isFilterOfBlockedConvolution(id); },
              [&](const Node& node) { return node.op != Op::Input && node.type.dims[0] % block_ == 0; },
              [&](ValueId id) { return producesPackedFilter(id); });
  }

  // Gives `layout` to the values of every class that has a member for which
  // `wants` holds and only members for which `fits` holds; within it, to
  // leaves and to the members that `produces` says a kernel can compute in
  // it (the others are computed plain and converted once for their users).
  void chooseFor(Layout layout, const std::function<bool(ValueId)>& wants,
                 const std::function<bool(const Node&)>& fits, const std::function<bool(ValueId)>& produces) {
    std::map<ValueId, bool> possible, wanted;
    for (ValueId id = 0; id < graph_.size(); ++id) {
      const Node& node = graph_.node(id);
      if (!isBlockable(node)) continue;
      const ValueId root = classes_.find(id);
      possible.try_emplace(root, true).first->second &= classLayout_[root] == Layout::Plain && fits(node);
      wanted[root] = wanted[root] || wants(id);
    }
    for (const auto& [root, ok] : possible)
      if (ok && wanted[root]) classLayout_[root] = layout;
    for (ValueId id = 0; id < graph_.size(); ++id)
      if (isBlockable(graph_.node(id)) && classLayout_[classes_.find(id)] == layout &&
          (isLeaf(graph_.node(id).op) || produces(id)))
        layout_[id] = layout;
  }

  bool isFilterGradientsOutputGradient(ValueId id) const {
    for (ValueId user = id + 1; user < graph_.size(); ++user) {
      const Node& node = graph_.node(user);
      if (node.op == Op::Conv2DBackwardFilter && node.operands[1] == id) return true;
    }
    return false;
  }

  // Whether value `id` (of the old graph) is read blocked, wherever it is computed.
  bool readBlocked(ValueId id) { return classLayout_[classes_.find(id)] == activationLayout(block_); }

  bool isFilterOfBlockedConvolution(ValueId id) const {
    if (graph_.node(id).op != Op::Param) return false;
    for (ValueId user = id + 1; user < graph_.size(); ++user) {
      const Node& node = graph_.node(user);
      if (node.op == Op::Conv2D && node.operands[1] == id && layout_[user] != Layout::Plain) return true;
    }
    return false;
  }

  bool producesPackedFilter(ValueId id) {
    const Node& node = graph_.node(id);
    if (node.op == Op::Conv2DBackwardFilter) return readBlocked(node.operands[1]);
    return sharesOneLayout(node.op) && hasBlockedKernel(node.op, filterLayout(block_));
  }

  // Value `v` (of the new graph) in `layout`: itself, or one relayout of it
  // shared by every user that needs that layout.
  Expected<ValueId> inLayout(ValueId v, Layout layout) {
    const Node& node = rebuilder_.out().node(v);
    if (node.type.layout == layout) return v;
    auto key = std::pair{v, layout};
    if (auto it = relayouts_.find(key); it != relayouts_.end()) return it->second;
    const std::string name =
        fmt::format("{}.{}", node.name, layout == Layout::Plain ? "plain" : std::string(layoutName(layout)));
    Expected<ValueId> relayout =
        rebuilder_.out().addNode(Op::Relayout, name, {v}, {{"layout", Symbol{name.substr(node.name.size() + 1)}}});
    if (relayout) relayouts_.emplace(key, *relayout);
    return relayout;
  }

  // The new operands of `node`: operand k in the layout `layoutOf(k, old operand)`.
  Expected<std::vector<ValueId>> operandsIn(const Node& node, const std::function<Layout(size_t, ValueId)>& layoutOf) {
    std::vector<ValueId> operands;
    for (size_t k = 0; k < node.operands.size(); ++k) {
      Expected<ValueId> v = inLayout(rebuilder_.mapped(node.operands[k]), layoutOf(k, node.operands[k]));
      if (!v) return v.error();
      operands.push_back(*v);
    }
    return operands;
  }

  Expected<ValueId> add(const Node& node, Op op, Expected<std::vector<ValueId>> operands, AttributeMap attrs) {
    if (!operands) return operands.error();
    return rebuilder_.out().addNode(op, node.name, std::move(*operands), std::move(attrs));
  }

  // The layout in which a blocked kernel reads image `old`: its class's
  // (relayouted once where computed plain), else plain (the first layer's input).
  Layout imageLayout(ValueId old) { return readBlocked(old) ? activationLayout(block_) : Layout::Plain; }

  Expected<ValueId> rebuild(ValueId id) {
    const Node& node = graph_.node(id);
    if (isLeaf(node.op)) {
      Node leaf = node;
      leaf.type.layout = layout_[id];
      return rebuilder_.out().addUnchecked(std::move(leaf));
    }
    const Layout image = activationLayout(block_), filter = filterLayout(block_);
    auto plain = [](size_t, ValueId) { return Layout::Plain; };
    if (node.op == Op::Conv2D && layout_[id] != Layout::Plain)
      // The input blocked (plain for the first layer), the filter packed, a
      // residual and an activation's output blocked as the result.
      return add(node, node.op, operandsIn(node, [&](size_t k, ValueId v) {
                   if (k >= ownOperandCount(node)) return image;
                   return k == 0 ? imageLayout(v) : k == 1 ? filter : Layout::Plain;
                 }), node.attrs);
    if (node.op == Op::Conv2DBackwardData && layout_[id] != Layout::Plain) {
      const std::optional<IntList> pads = transposedPads(graph_, node);
      if (!pads)
        // The gradient as its class is stored, the filter blocked along its
        // input channels, a residual and an activation's output blocked.
        return add(node, node.op, operandsIn(node, [&](size_t k, ValueId v) {
                     return k == 0 ? imageLayout(v) : image;
                   }), node.attrs);
      Expected<ValueId> transposed = transposedFilter(node.operands[1]);
      if (!transposed) return transposed.error();
      Expected<ValueId> dy = inLayout(rebuilder_.mapped(node.operands[0]), imageLayout(node.operands[0]));
      if (!dy) return dy.error();
      std::vector<ValueId> operands = {*dy, *transposed};
      AttributeMap attrs{{"strides", IntList{1, 1}}, {"pads", *pads}};
      // A fused residual or activation gradient stays, its operands (the
      // residual, the activation's output) blocked as the result.
      for (size_t k = ownOperandCount(node); k < node.operands.size(); ++k) {
        Expected<ValueId> extra = inLayout(rebuilder_.mapped(node.operands[k]), image);
        if (!extra) return extra.error();
        operands.push_back(*extra);
      }
      for (std::string_view key : {kResidualAttr, kActivationGradientAttr, kFusedAttr})
        if (auto found = node.attrs.find(key); found != node.attrs.end()) attrs.emplace(std::string(key), found->second);
      return add(node, Op::Conv2D, std::move(operands), std::move(attrs));
    }
    if (node.op == Op::Conv2DBackwardFilter && readBlocked(node.operands[1])) {
      // The filter gradient comes packed, and stays so if the optimizer's are.
      Expected<ValueId> gradient =
          add(node, node.op, operandsIn(node, [&](size_t, ValueId v) { return imageLayout(v); }), node.attrs);
      if (!gradient) return gradient;
      return inLayout(*gradient, layout_[id]);
    }
    if (sharesOneLayout(node.op))
      return add(node, node.op, operandsIn(node, [&](size_t, ValueId v) {
                   const Layout shared = classLayout_[classes_.find(v)];
                   return isBlockable(graph_.node(v)) && hasBlockedKernel(node.op, shared) ? shared : Layout::Plain;
                 }), node.attrs);
    return add(node, node.op, operandsIn(node, plain), node.attrs);
  }

  // The filter of conv2d_bwd_data as a convolution, one per filter.
  Expected<ValueId> transposedFilter(ValueId w) {
    if (auto it = transposed_.find(w); it != transposed_.end()) return it->second;
    const ValueId filter = rebuilder_.mapped(w);
    Expected<ValueId> transposed = rebuilder_.out().addNode(
        Op::FilterTranspose, rebuilder_.out().node(filter).name + ".transposed", {filter},
        {{"layout", Symbol{std::string(layoutName(filterLayout(block_)))}}});
    if (transposed) transposed_.emplace(w, *transposed);
    return transposed;
  }

  const Graph& graph_;
  const int64_t block_;
  GraphRebuilder rebuilder_;
  Classes classes_;                  // of old values that must share a layout
  std::vector<Layout> classLayout_;  // by class root
  std::vector<Layout> layout_;       // by old value: the layout it is computed in
  std::map<std::pair<ValueId, Layout>, ValueId> relayouts_;
  std::map<ValueId, ValueId> transposed_;
};

}  // namespace

Status selectLayouts(Graph& graph, const PassContext& context) {
  Expected<Graph> selected = LayoutSelection(graph, context.target.vectorWidth).run();
  if (!selected) return selected.error();
  graph = std::move(*selected);
  return Status::ok();
}

}  // namespace cnnc
