// Memory planning: on random graphs and on the examples' training steps, the
// step is simulated on the planned arena: each kernel must find the values
// it reads intact, then writes its result; at the end the outputs and every
// param and state's new value must be in place. This checks, independently
// of the planner's liveness, that no value is overwritten while it is still
// needed, in-place updates included, and fused bias gradients, poolings
// and Adam moments, which the kernel that absorbed them writes (the
// moments later than their nodes' places).
#include <random>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/buffer_layout.h"
#include "compiler/conv_tiles.h"
#include "compiler/passes.h"
#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "ir/batch_group.h"
#include "ir/fused_activation.h"
#include "ir/fused_moments.h"
#include "ir/inlined_norm.h"
#include "ir/kernel_results.h"
#include "tests/test_models.h"

namespace cnnc {
namespace {

// Ops whose kernel reads each operand of the result's type at the element
// it writes (and others, per-channel vectors, anywhere), and so may
// overwrite an operand of the same type as it goes.
const std::set<Op> kSameElement = {Op::Relu,         Op::Sigmoid,         Op::Tanh,           Op::Add,
                                   Op::Mul,          Op::ReluBackward,    Op::SigmoidBackward, Op::TanhBackward,
                                   Op::AdamMoment,   Op::AdamApply,       Op::Increment,       Op::SgdVelocity,
                                   Op::SgdApply,     Op::BatchNormRunning, Op::BatchNorm,      Op::BatchNormTrain,
                                   Op::BatchNormBackwardData};

// Whether the kernel of `node` reads `operand` only at the elements it
// writes, each before writing it: one of the result's type, of an op in
// kSameElement; or the residual or activation output that a blocked
// convolution or data gradient reads as it finishes each result, where it
// sums its channels in one pass (the agreement tests of blocked_conv_test
// run such kernels over a dying activation output), and that it does not
// read as an operand of its own as well (a convolution's input may be its
// residual).
bool readsOnlyWhereItWrites(const Graph& graph, const Node& node, ValueId operand) {
  if (kSameElement.count(node.op)) return true;
  if (!isTiledConvolution(node) || node.op == Op::Conv2DBackwardFilter) return false;
  const std::vector<ValueId> finishing = finishOperands(graph, node);
  const std::vector<ValueId> own(node.operands.begin(), node.operands.begin() + ownOperandCount(node));
  return std::find(finishing.begin(), finishing.end(), operand) != finishing.end() &&
         std::find(own.begin(), own.end(), operand) == own.end() &&
         channelPasses(graph, node, forwardTile(graph, node, *selectTarget("host"))) == 1;
}

// The arena in 64-byte granules (every buffer starts on one), each
// remembering which value was last written to it.
class Arena {
 public:
  Arena(const Graph& graph, const BufferLayout& layout)
      : graph_(graph), layout_(layout), holder_(static_cast<size_t>(layout.arenaBytes / 64), kNone) {}

  void write(ValueId buffer, ValueId value) {
    auto [first, last] = granules(buffer);
    std::fill(holder_.begin() + first, holder_.begin() + last, value);
  }
  bool holds(ValueId buffer, ValueId value) const {
    auto [first, last] = granules(buffer);
    return std::all_of(holder_.begin() + first, holder_.begin() + last, [&](ValueId v) { return v == value; });
  }
  bool overlap(ValueId a, ValueId b) const {
    auto [aFirst, aLast] = granules(a);
    auto [bFirst, bLast] = granules(b);
    return aFirst < bLast && bFirst < aLast;
  }

 private:
  static constexpr ValueId kNone = ~ValueId{0};
  std::pair<int64_t, int64_t> granules(ValueId id) const {
    const int64_t offset = layout_.offsets[id];
    return {offset / 64, (offset + *byteSize(graph_.node(id).type) + 63) / 64};
  }

  const Graph& graph_;
  const BufferLayout& layout_;
  std::vector<ValueId> holder_;
};

struct PlanCounts {
  int64_t inPlace = 0;      // assigns of computed values that move nothing
  int64_t copied = 0;       // assigns of computed values that copy
  int64_t overwrites = 0;   // values that overwrite an operand as their kernel reads it
};

PlanCounts expectSoundPlan(const Graph& graph) {
  const BufferLayout layout = layoutBuffers(graph, *selectTarget("host"));
  int64_t totalBytes = 0;
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (isInlined(graph.node(id))) continue;  // no buffer: its readers compute it
    const int64_t bytes = *byteSize(graph.node(id).type);
    totalBytes += bytes;
    EXPECT_EQ(layout.offsets[id] % 64, 0);
    EXPECT_LE(layout.offsets[id] + bytes, layout.arenaBytes);
  }
  EXPECT_LE(layout.arenaBytes, totalBytes + 64 * static_cast<int64_t>(graph.size()));
  PlanCounts counts;
  Arena arena(graph, layout);
  std::vector<ValueId> final(graph.size());  // what each leaf holds after the step
  for (ValueId id = 0; id < graph.size(); ++id) {
    final[id] = id;
    if (isLeaf(graph.node(id).op)) arena.write(id, id);
  }
  auto name = [&](ValueId id) { return graph.node(id).name; };
  // A kernel writes its own value and those it computes for other nodes (a
  // fused bias gradient, pooling or Adam moments), which then have no
  // kernel; it reads the operands of all of them but those it computes,
  // and for an inlined batch norm among them, that one's operands.
  const std::vector<ValueId> computing = computingKernels(graph);
  auto readsOf = [&](ValueId operand) {
    return isInlined(graph.node(operand)) ? graph.node(operand).operands : std::vector<ValueId>{operand};
  };
  // The kernels of a batch group (ir/batch_group.h) run together, a chunk
  // of the batch at a time: as one unit here, which reads all its
  // kernels' operands and then writes all their values. A kernel may
  // overwrite an operand that it reads where it writes only if no other
  // kernel of the unit reads it.
  std::vector<std::vector<ValueId>> units;
  for (ValueId id : executionOrder(graph)) {
    const Node& node = graph.node(id);
    if (!hasOwnKernel(graph, computing, id)) continue;
    const std::optional<std::string> group = batchGroupOf(node);
    if (!group || units.empty() || batchGroupOf(graph.node(units.back().front())) != group) units.emplace_back();
    units.back().push_back(id);
  }
  for (const std::vector<ValueId>& unit : units) {
    const ValueId id = unit.front();
    const Node& node = graph.node(id);
    if (node.op == Op::Assign) {
      const ValueId target = node.operands[0], value = node.operands[1];
      EXPECT_TRUE(arena.holds(value, value)) << name(value) << " is overwritten before " << name(id);
      if (!isLeaf(graph.node(value).op)) ++(assignsInPlace(graph, layout, id) ? counts.inPlace : counts.copied);
      if (!assignsInPlace(graph, layout, id)) arena.write(target, value);
      final[target] = value;
      continue;
    }
    std::vector<ValueId> computed;  // by the unit
    std::vector<std::vector<ValueId>> operands(unit.size());  // by kernel
    for (size_t k = 0; k < unit.size(); ++k)
      for (ValueId value = 0; value < graph.size(); ++value) {
        if (computing[value] != unit[k]) continue;
        computed.push_back(value);
        for (ValueId operand : graph.node(value).operands)
          for (ValueId read : readsOf(operand)) operands[k].push_back(read);
      }
    auto readBy = [&](ValueId operand) {
      return std::count_if(operands.begin(), operands.end(), [&](const std::vector<ValueId>& reads) {
        return std::find(reads.begin(), reads.end(), operand) != reads.end();
      });
    };
    auto computedInUnit = [&](ValueId value) { return std::find(computed.begin(), computed.end(), value) != computed.end(); };
    for (size_t k = 0; k < unit.size(); ++k)
      for (ValueId operand : operands[k]) {
        if (computedInUnit(operand)) continue;
        EXPECT_TRUE(arena.holds(operand, operand))
            << name(operand) << " is overwritten before " << name(unit[k]) << " reads it";
        for (ValueId written : computed) {
          if (!arena.overlap(written, operand)) continue;
          ++counts.overwrites;
          EXPECT_TRUE(computing[written] == unit[k] && readBy(operand) == 1 &&
                      readsOnlyWhereItWrites(graph, graph.node(unit[k]), operand) &&
                      (written == unit[k] || kSameElement.count(graph.node(written).op)) &&
                      layout.offsets[written] == layout.offsets[operand] &&
                      graph.node(written).type == graph.node(operand).type)
              << name(written) << " overwrites " << name(operand) << " as " << name(unit[k]) << " reads it";
        }
      }
    // Values of different kernels of a group never share bytes; those of
    // one kernel may (a residual it computes from its batch norm's input
    // and writes nowhere, in place under its result), as alone.
    for (ValueId a : computed)
      for (ValueId b : computed)
        EXPECT_TRUE(a == b || !arena.overlap(a, b) || computing[a] == computing[b])
            << name(a) << " and " << name(b) << " share bytes in the batch group of " << name(id);
    for (ValueId value : computed) arena.write(value, value);
  }
  // Leaves that are outputs are read after the step like any leaf: below.
  for (ValueId output : graph.outputs()) {
    if (isLeaf(graph.node(output).op)) continue;
    EXPECT_TRUE(arena.holds(output, output)) << "the output " << name(output) << " is overwritten";
  }
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (!isLeaf(graph.node(id).op)) continue;
    EXPECT_TRUE(arena.holds(id, final[id])) << name(id) << " does not hold " << name(final[id]) << " at the end";
  }
  return counts;
}

// Adam's update of state `weight` from a gradient picked from `pool`, in
// the middle of the graph, with the new weight added to the pool and, at
// random, the new moments as well, so that other nodes may read them (which
// keeps fuse-adam-moments from fusing them). Returns the new weight.
ValueId addAdamUpdate(Graph& graph, std::mt19937_64& rng, std::vector<ValueId>& pool, ValueId weight, ValueId step) {
  const Node w = graph.node(weight);  // a copy: adding nodes moves the graph's
  // A computed gradient where there is one, whose buffer the planner may
  // give to another value (a leaf keeps its own).
  std::vector<ValueId> computed;
  for (ValueId value : pool)
    if (!isLeaf(graph.node(value).op)) computed.push_back(value);
  const std::vector<ValueId>& from = computed.empty() ? pool : computed;
  const ValueId gradient = from[rng() % from.size()];
  std::vector<ValueId> moments;
  for (int power : {1, 2}) {
    const ValueId moment = *graph.addLeaf(Op::State, fmt::format("{}.m{}", w.name, power), w.type);
    moments.push_back(*graph.addNode(Op::AdamMoment, fmt::format("{}.m{}.next", w.name, power), {moment, gradient},
                                     {{"decay", power == 1 ? 0.9 : 0.999}, {"power", int64_t{power}}}));
    (void)*graph.addNode(Op::Assign, fmt::format("{}.m{}.assign", w.name, power), {moment, moments.back()});
    if (rng() % 4 == 0) pool.push_back(moments.back());
  }
  const ValueId next = *graph.addNode(Op::AdamApply, w.name + ".next", {weight, moments[0], moments[1], step},
                                      {{"learning_rate", 0.01}, {"beta1", 0.9}, {"beta2", 0.999},
                                       {"epsilon", 1e-7}, {"weight_decay", 0.0}});
  pool.push_back(next);
  return next;
}

// A random graph of elementwise ops (and a softmax, which is not) over a few
// shapes, with random fan-out, state updated by assign or by Adam (its
// moments fused where they can be), and random outputs.
Graph randomGraph(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Graph graph("random");
  std::vector<std::vector<ValueId>> byShape(3);
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 5, 5}, {4, 16}, {7}};
  std::vector<ValueId> states;
  for (size_t s = 0; s < shapes.size(); ++s) {
    byShape[s].push_back(*graph.addLeaf(Op::Input, fmt::format("in{}", s), TensorType{DType::F32, shapes[s]}));
    ValueId state = *graph.addLeaf(Op::State, fmt::format("state{}", s), TensorType{DType::F32, shapes[s]});
    byShape[s].push_back(state);
    states.push_back(state);
  }
  const ValueId step = *graph.addLeaf(Op::State, "step", TensorType{DType::F32, {}});
  const ValueId nextStep = *graph.addNode(Op::Increment, "step.next", {step});
  (void)*graph.addNode(Op::Assign, "step.assign", {step, nextStep});
  std::vector<std::optional<ValueId>> adamNext(shapes.size());
  const int nodes = 10 + static_cast<int>(rng() % 30);
  for (int i = 0; i < nodes; ++i) {
    const size_t s = rng() % shapes.size();
    auto& pool = byShape[s];
    if (!adamNext[s] && rng() % 8 == 0) {
      adamNext[s] = addAdamUpdate(graph, rng, pool, states[s], nextStep);
      continue;
    }
    auto pick = [&] { return pool[rng() % pool.size()]; };
    const std::string name = fmt::format("v{}", i);
    const Op op = std::array{Op::Relu, Op::Add, Op::Mul, Op::Tanh, Op::Softmax}[rng() % 5];
    if (op == Op::Softmax && graph.node(pool[0]).type.rank() != 2) continue;
    std::vector<ValueId> operands = {pick()};
    if (op == Op::Add || op == Op::Mul) operands.push_back(pick());
    pool.push_back(*graph.addNode(op, name, operands));
  }
  for (size_t s = 0; s < states.size(); ++s)
    if (adamNext[s] || rng() % 4) {
      auto& pool = byShape[s];
      const ValueId value = adamNext[s] ? *adamNext[s] : pool[rng() % pool.size()];
      (void)*graph.addNode(Op::Assign, fmt::format("assign{}", s), {states[s], value});
    }
  std::vector<ValueId> outputs;
  for (auto& pool : byShape) outputs.push_back(pool[rng() % pool.size()]);
  graph.setOutputs(outputs);
  EXPECT_TRUE(fuseAdamMoments(graph, PassContext{*selectTarget("host")}));
  return graph;
}

TEST(BufferLayout, RandomGraphsNeverOverwriteALiveBuffer) {
  PlanCounts total;
  int fused = 0, unfused = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE(seed);
    const Graph graph = randomGraph(seed);
    const PlanCounts counts = expectSoundPlan(graph);
    total.inPlace += counts.inPlace;
    total.copied += counts.copied;
    total.overwrites += counts.overwrites;
    for (const Node& node : graph.nodes())
      if (node.op == Op::AdamApply) ++(fusedMoments(graph, node).empty() ? unfused : fused);
  }
  // Both kinds of assign are exercised: where in-place is legal and where
  // not; elementwise kernels that overwrite an operand; and Adam's moments
  // both fused and not.
  EXPECT_GT(total.inPlace, 50);
  EXPECT_GT(total.copied, 50);
  EXPECT_GT(total.overwrites, 100);
  EXPECT_GT(fused, 50);
  EXPECT_GT(unfused, 20);
}

TEST(BufferLayout, TrainingStepsOfTheExamples) {
  for (const char* example : {"seed.json", "vgg_bn.json", "resnet_small.json"}) {
    SCOPED_TRACE(example);
    Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/examples/" + example, 4);
    ASSERT_TRUE(model) << model.error().message;
    Expected<CompiledGraph> step = buildGraph(*model, {GraphKind::TrainStep, 0, {}});
    ASSERT_TRUE(step) << step.error().message;
    const PlanCounts counts = expectSoundPlan(step->graph);
    // Optimizer updates and running statistics are all computed in place;
    // and some elementwise kernels overwrite an operand that dies there (a
    // batch norm's data gradient its output gradient or input).
    EXPECT_EQ(counts.copied, 0);
    EXPECT_GT(counts.inPlace, 0);
    EXPECT_GT(counts.overwrites, 0);
  }
}

// ResNet's training step at a batch that takes Winograd kernels, whose
// relu'd batch norms are inlined (ir/inlined_norm.h): no buffer of theirs,
// their inputs kept for their readers (the stem's for block1's second batch
// norm, which adds it as its residual, as well).
TEST(BufferLayout, InlinedBatchNorms) {
  Expected<CompiledGraph> step = trainingStepOf("examples/resnet_small.json", 32);
  ASSERT_TRUE(step) << step.error().message;
  const Graph& graph = step->graph;
  EXPECT_EQ(std::count_if(graph.nodes().begin(), graph.nodes().end(), [](const Node& n) { return isInlined(n); }), 4);
  expectSoundPlan(graph);
}

// ResNet's training step with its batch groups (ir/batch_group.h), each
// run as one unit: no value of one of a group's kernels shares bytes with
// what another reads or writes.
TEST(BufferLayout, BatchGroups) {
  Expected<CompiledGraph> step = trainingStepOf("examples/resnet_small.json", 32);
  ASSERT_TRUE(step) << step.error().message;
  std::set<std::string> groups;
  for (const Node& node : step->graph.nodes())
    if (std::optional<std::string> group = batchGroupOf(node)) groups.insert(*group);
  EXPECT_EQ(groups.size(), 9u);  // 7 backward, and 2 of a residual block's output and the strided convolutions reading it
  expectSoundPlan(step->graph);
}

// Inference, where fold-batch-norms gives convolutions residuals: the
// residual model's first block adds the stem's output, which its
// convolution reads as its input too, and whose buffer it must not take.
TEST(BufferLayout, InferenceOfTheExamples) {
  for (const char* file : {"examples/resnet_small.json", "tests/golden/Inputs/residual.json"}) {
    SCOPED_TRACE(file);
    Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/" + file, 4);
    ASSERT_TRUE(model) << model.error().message;
    Expected<CompiledGraph> inference = buildGraph(*model, {GraphKind::Evaluation, 0, {}});
    ASSERT_TRUE(inference) << inference.error().message;
    expectSoundPlan(inference->graph);
  }
}

TEST(BufferLayout, ReusesMemory) {
  Expected<CompiledGraph> step = trainingStepOf("examples/seed.json", 32);
  ASSERT_TRUE(step) << step.error().message;
  // The seed training step at batch 32: 21 MiB with one buffer per value
  // (its workspace included), 13.6 in the arena.
  const BufferLayout layout = layoutBuffers(step->graph, *selectTarget("host"));
  int64_t total = 0;
  for (int64_t size : layout.sizes) total += size;
  EXPECT_LT(layout.arenaBytes, total * 2 / 3);
}

}  // namespace
}  // namespace cnnc
