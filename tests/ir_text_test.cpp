// The textual IR: print -> parse round trips, exact parse error messages, and
// robustness of the parser against arbitrary (truncated, mutated) input.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <stdexcept>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace cnnc {
namespace {

// Graph construction in tests: a failure is a bug in the test itself.
ValueId must(Expected<ValueId> id) {
  if (!id) throw std::runtime_error(id.error().message);
  return *id;
}

TensorType f32(std::vector<int64_t> dims) { return {DType::F32, std::move(dims)}; }

// A small CNN that uses every forward op, quoted names, float attributes
// that need an exponent, and fused activations (one naming a layer that
// must be quoted).
Graph forwardGraph() {
  Graph g("seed-cnn");
  ValueId x = must(g.addLeaf(Op::Input, "input", f32({2, 3, 8, 8})));
  ValueId labels = must(g.addLeaf(Op::Input, "labels", {DType::I64, {2}}));
  ValueId w = must(g.addLeaf(Op::Param, "block 1.weight", f32({4, 3, 3, 3})));
  ValueId b = must(g.addLeaf(Op::Param, "block 1.bias", f32({4})));
  ValueId conv = must(g.addNode(Op::Conv2D, "block 1", {x, w, b},
                                {{"strides", IntList{1, 1}}, {"pads", IntList{1, 1, 1, 1}}}));
  ValueId gamma = must(g.addLeaf(Op::Param, "bn.gamma", f32({4})));
  ValueId beta = must(g.addLeaf(Op::Param, "bn.beta", f32({4})));
  ValueId mean = must(g.addLeaf(Op::State, "bn.running_mean", f32({4})));
  ValueId var = must(g.addLeaf(Op::State, "bn.running_var", f32({4})));
  ValueId bn = must(g.addNode(Op::BatchNorm, "bn", {conv, gamma, beta, mean, var},
                              {{"epsilon", 1e-05}, {"momentum", 0.1}}));
  ValueId relu = must(g.addNode(Op::Relu, "relu", {bn}));
  ValueId maxPool = must(g.addNode(Op::MaxPool2D, "max_pool", {relu},
                                   {{"window", IntList{2, 2}}, {"strides", IntList{2, 2}},
                                    {"pads", IntList{0, 0, 0, 0}}}));
  ValueId avgPool = must(g.addNode(Op::AvgPool2D, "avg_pool", {relu},
                                   {{"window", IntList{3, 3}}, {"strides", IntList{2, 2}},
                                    {"pads", IntList{1, 1, 1, 1}}}));
  ValueId sum = must(g.addNode(Op::Add, "sum", {maxPool, avgPool, maxPool}));
  ValueId sigmoid = must(g.addNode(Op::Sigmoid, "sigmoid", {sum}));
  ValueId tanh = must(g.addNode(Op::Tanh, "tanh", {sum}));
  ValueId cat = must(g.addNode(Op::Concat, "cat", {sigmoid, tanh}));
  ValueId w2 = must(g.addLeaf(Op::Param, "say \"hi\" \\ weight", f32({8, 8, 1, 1})));
  ValueId conv2 = must(g.addNode(Op::Conv2D, "conv2", {cat, w2},
                                 {{"strides", IntList{1, 1}}, {"pads", IntList{0, 0, 0, 0}},
                                  {"activation", Symbol{"relu"}}, {"fused", Symbol{"1st \"conv\""}}}));
  ValueId gap = must(g.addNode(Op::GlobalAvgPool2D, "gap", {conv2}));
  ValueId flat = must(g.addNode(Op::Flatten, "flat", {cat}));
  ValueId drop = must(g.addNode(Op::Dropout, "drop", {flat}, {{"rate", 0.5}}));
  ValueId fc1w = must(g.addLeaf(Op::Param, "fc1.weight", f32({16, 128})));
  ValueId fc1b = must(g.addLeaf(Op::Param, "fc1.bias", f32({16})));
  ValueId fc1 = must(g.addNode(Op::Dense, "fc1", {drop, fc1w, fc1b},
                               {{"activation", Symbol{"tanh"}}, {"fused", Symbol{"fc1.pre"}}}));
  ValueId fc2w = must(g.addLeaf(Op::Param, "fc2.weight", f32({10, 16})));
  ValueId fc2 = must(g.addNode(Op::Dense, "fc2", {fc1, fc2w}));
  ValueId prob = must(g.addNode(Op::Softmax, "prob", {fc2}));
  ValueId loss = must(g.addNode(Op::SoftmaxCrossEntropy, "loss", {fc2, labels}));
  ValueId packed = must(g.addLeaf(Op::State, "packed", {DType::F32, {1, 16, 2, 2}, Layout::NCHW16c}));
  ValueId unpacked = must(g.addNode(Op::Relayout, "unpacked", {packed}, {{"layout", Symbol{"plain"}}}));
  ValueId transposed = must(g.addNode(Op::FilterTranspose, "transposed", {w}, {{"layout", Symbol{"plain"}}}));
  ValueId signs = must(g.addNode(Op::ReluMask, "packed.mask", {packed}));  // b1[1,16,2,2]<NCHW16c>
  g.setOutputs({prob, loss, gap, unpacked, transposed, signs});
  return g;
}

// Names at the edges of the name syntax: keywords, number look-alikes, names
// that must be quoted (a '+', a newline, quotes and backslashes).
Graph oddNamesGraph() {
  Graph g("odd \"graph\"");
  ValueId x = must(g.addLeaf(Op::Input, "1e-05", {DType::F64, {3}}));
  ValueId y = must(g.addLeaf(Op::Input, "-1", {DType::F64, {3}}));
  ValueId a = must(g.addNode(Op::Relu, "return", {x}));
  ValueId b = must(g.addNode(Op::Sigmoid, "graph", {y}));
  ValueId c = must(g.addNode(Op::Tanh, "1e+5", {a}));
  ValueId d = must(g.addNode(Op::Add, "line\nbreak", {b, c}));
  ValueId e = must(g.addNode(Op::Dropout, "\\\"", {d}, {{"rate", 0.0}}));
  must(g.addLeaf(Op::State, "scalar", {DType::I32, {}}));
  g.setOutputs({e, a});
  return g;
}

// Names each instance of a parameterized test after its case's `name`.
struct ByName {
  template <class TestInfo>
  std::string operator()(const TestInfo& test) const {
    return test.param.name;
  }
};

// One training step of a small CNN: the training-mode forms of forward ops,
// backward ops, optimizer updates and assignments.
Graph trainingGraph() {
  Graph g("train-step");
  const AttributeMap conv = {{"strides", IntList{1, 1}}, {"pads", IntList{0, 0, 0, 0}}};
  const AttributeMap pool = {
      {"window", IntList{2, 2}}, {"strides", IntList{2, 2}}, {"pads", IntList{0, 0, 0, 0}}};
  auto with = [](AttributeMap attrs, AttributeMap more) {
    attrs.merge(more);
    return attrs;
  };
  ValueId step = must(g.addLeaf(Op::State, "step", f32({})));
  ValueId x = must(g.addLeaf(Op::Input, "x", f32({2, 3, 6, 6})));
  ValueId labels = must(g.addLeaf(Op::Input, "labels", {DType::I32, {2}}));
  ValueId w = must(g.addLeaf(Op::Param, "w", f32({4, 3, 3, 3})));
  ValueId gamma = must(g.addLeaf(Op::Param, "gamma", f32({4})));
  ValueId beta = must(g.addLeaf(Op::Param, "beta", f32({4})));
  ValueId mean = must(g.addLeaf(Op::State, "mean", f32({4})));
  ValueId fcw = must(g.addLeaf(Op::Param, "fc.weight", f32({10, 16})));
  ValueId velocity = must(g.addLeaf(Op::State, "w.velocity", f32({4, 3, 3, 3})));
  ValueId m = must(g.addLeaf(Op::State, "fc.m", f32({10, 16})));
  ValueId v = must(g.addLeaf(Op::State, "fc.v", f32({10, 16})));

  // Forward, in training mode.
  ValueId y = must(g.addNode(Op::Conv2D, "y", {x, w}, conv));
  ValueId stats = must(g.addNode(Op::BatchNormStats, "stats", {y}));
  ValueId bn = must(g.addNode(Op::BatchNormTrain, "bn", {y, stats, gamma, beta}, {{"epsilon", 1e-05}}));
  ValueId newMean = must(g.addNode(Op::BatchNormRunning, "new_mean", {mean, stats},
                                   {{"momentum", 0.1}, {"row", int64_t{0}}, {"count", int64_t{32}}}));
  ValueId mask = must(g.addNode(Op::DropoutMask, "mask", {step},
                                {{"rate", 0.25}, {"seed", int64_t{7}}, {"shape", IntList{2, 4, 4, 4}}}));
  ValueId drop = must(g.addNode(Op::Mul, "drop", {bn, mask}));
  ValueId r = must(g.addNode(Op::Relu, "r", {drop}));
  ValueId maxPool = must(g.addNode(Op::MaxPool2D, "max_pool", {r}, pool));
  ValueId flat = must(g.addNode(Op::Reshape, "flat", {maxPool}, {{"shape", IntList{2, 16}}}));
  ValueId logits = must(g.addNode(Op::Dense, "logits", {flat, fcw}));
  ValueId loss = must(g.addNode(Op::SoftmaxCrossEntropy, "loss", {logits, labels}));
  ValueId sigmoid = must(g.addNode(Op::Sigmoid, "sigmoid", {r}));
  ValueId tanh = must(g.addNode(Op::Tanh, "tanh", {r}));
  ValueId gap = must(g.addNode(Op::GlobalAvgPool2D, "gap", {r}));
  ValueId avgPool = must(g.addNode(Op::AvgPool2D, "avg_pool", {r}, pool));
  ValueId slice =
      must(g.addNode(Op::ChannelSlice, "slice", {r}, {{"offset", int64_t{1}}, {"channels", int64_t{2}}}));

  // Backward.
  const AttributeMap inputHW = {{"input_hw", IntList{4, 4}}};
  ValueId dlogits = must(g.addNode(Op::SoftmaxCrossEntropyBackward, "dlogits", {logits, labels}));
  ValueId dflat = must(g.addNode(Op::DenseBackwardData, "dflat", {dlogits, fcw}));
  // The bias gradient fused into the weight gradient's kernel.
  ValueId dfcw =
      must(g.addNode(Op::DenseBackwardWeight, "dfc.weight", {dlogits, flat}, {{"bias_grad", Symbol{"dfc.bias"}}}));
  must(g.addNode(Op::BiasGrad, "dfc.bias", {dlogits}));
  ValueId dpool = must(g.addNode(Op::Reshape, "dmax_pool", {dflat}, {{"shape", IntList{2, 4, 2, 2}}}));
  ValueId dr = must(g.addNode(Op::MaxPool2DBackward, "dr", {r, dpool}, pool));
  ValueId dsigmoid = must(g.addNode(Op::SigmoidBackward, "dsigmoid", {dr, sigmoid}));
  ValueId dtanh = must(g.addNode(Op::TanhBackward, "dtanh", {dr, tanh}));
  ValueId dgap = must(g.addNode(Op::GlobalAvgPool2DBackward, "dgap", {gap}, inputHW));
  ValueId davg = must(g.addNode(Op::AvgPool2DBackward, "davg_pool", {avgPool}, with(pool, inputHW)));
  ValueId dsum = must(g.addNode(Op::Add, "dsum", {dr, dsigmoid, dtanh, dgap, davg}));
  ValueId ddrop = must(g.addNode(Op::ReluBackward, "ddrop", {dsum, r}));
  ValueId dbn = must(g.addNode(Op::Mul, "dbn", {ddrop, mask}));
  ValueId dgamma = must(g.addNode(Op::BatchNormBackwardGamma, "dgamma", {dbn, y, stats}, {{"epsilon", 1e-05}}));
  ValueId dbeta = must(g.addNode(Op::BiasGrad, "dbeta", {dbn}));
  ValueId dy = must(g.addNode(Op::BatchNormBackwardData, "dy", {dbn, y, stats, gamma, dgamma, dbeta},
                              {{"epsilon", 1e-05}}));
  ValueId dx =
      must(g.addNode(Op::Conv2DBackwardData, "dx", {dy, w}, with(conv, {{"input_hw", IntList{6, 6}}})));
  ValueId dw =
      must(g.addNode(Op::Conv2DBackwardFilter, "dw", {x, dy}, with(conv, {{"kernel", IntList{3, 3}}})));

  // Optimizer updates: SGD with momentum for the conv, Adam for the dense layer.
  ValueId newVelocity = must(g.addNode(Op::SgdVelocity, "new_velocity", {velocity, dw},
                                       {{"momentum", 0.9}, {"learning_rate", 0.01}}));
  ValueId newW = must(g.addNode(Op::SgdApply, "new_w", {w, dw, newVelocity},
                                {{"learning_rate", 0.01}, {"momentum", 0.9}, {"nesterov", int64_t{1}},
                                 {"weight_decay", 0.0005}}));
  ValueId newGamma = must(g.addNode(Op::SgdApply, "new_gamma", {gamma, dgamma},
                                    {{"learning_rate", 0.01}, {"momentum", 0.0}, {"nesterov", int64_t{0}},
                                     {"weight_decay", 0.0}}));
  ValueId newM = must(g.addNode(Op::AdamMoment, "new_m", {m, dfcw}, {{"decay", 0.9}, {"power", int64_t{1}}}));
  ValueId newV = must(g.addNode(Op::AdamMoment, "new_v", {v, dfcw}, {{"decay", 0.999}, {"power", int64_t{2}}}));
  ValueId nextStep = must(g.addNode(Op::Increment, "next_step", {step}));
  ValueId newFcw = must(g.addNode(Op::AdamApply, "new_fc.weight", {fcw, newM, newV, nextStep},
                                  {{"learning_rate", 0.001}, {"beta1", 0.9}, {"beta2", 0.999},
                                   {"epsilon", 1e-08}, {"weight_decay", 0.0}}));
  const std::pair<ValueId, ValueId> assignments[] = {{w, newW},     {gamma, newGamma}, {mean, newMean},
                                                     {velocity, newVelocity}, {m, newM}, {v, newV},
                                                     {fcw, newFcw}, {step, nextStep}};
  for (auto [target, value] : assignments)
    must(g.addNode(Op::Assign, "assign." + g.node(target).name, {target, value}));
  g.setOutputs({loss, dx, slice, beta});
  return g;
}

struct RoundTripCase {
  const char* name;
  Graph (*build)();
};

void PrintTo(const RoundTripCase& test, std::ostream* out) { *out << test.name; }

class RoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTripTest, PrintParsePrintIsIdentity) {
  Graph graph = GetParam().build();
  ASSERT_TRUE(verify(graph));
  std::string text = printGraph(graph);
  Expected<Graph> parsed = parseGraph(text, "roundtrip.cnn");
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
  EXPECT_EQ(*parsed, graph);
  EXPECT_EQ(printGraph(*parsed), text);
}

INSTANTIATE_TEST_SUITE_P(IrText, RoundTripTest,
                         ::testing::Values(RoundTripCase{"Forward", forwardGraph},
                                           RoundTripCase{"Training", trainingGraph},
                                           RoundTripCase{"OddNames", oddNamesGraph}),
                         ByName{});

// Guards the round trips above against ops added to ops.def later.
TEST(IrTextRoundTrip, CoversEveryOp) {
  std::set<Op> used;
  for (const Graph& graph : {forwardGraph(), trainingGraph(), oddNamesGraph()})
    for (const Node& node : graph.nodes()) used.insert(node.op);
#define OP(Enum, Mnemonic, MinOperands, MaxOperands) \
  EXPECT_TRUE(used.count(Op::Enum)) << "no round trip covers " << Mnemonic;
#include "ir/ops.def"
}

TEST(IrTextParse, ToleratesCommentsAndFreeLayout) {
  const char* text =
      "# a hand-written graph\n"
      "graph @\"tiny\"{ // the name may be quoted even when plain\n"
      "  %x=input:f32[ 2 , 4 ]\n"
      "  %w = param\n"
      "     : f32[3,4]   # weights\n"
      "  %y = dense %x,%w : f32[2,3]\n"
      "  %p = dropout %y { rate = 1e-1 } : f32[2,3]\n"
      "  return %p}";
  Graph expected("tiny");
  ValueId x = must(expected.addLeaf(Op::Input, "x", f32({2, 4})));
  ValueId w = must(expected.addLeaf(Op::Param, "w", f32({3, 4})));
  ValueId y = must(expected.addNode(Op::Dense, "y", {x, w}));
  expected.setOutputs({must(expected.addNode(Op::Dropout, "p", {y}, {{"rate", 0.1}}))});

  Expected<Graph> parsed = parseGraph(text, "tiny.cnn");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, expected);
}

// ---------------------------------------------------------------------------
// Malformed IR: each case gives the exact message, location included.

struct ErrorCase {
  const char* name;
  std::string text;
  std::string message;
};

void PrintTo(const ErrorCase& test, std::ostream* out) { *out << test.name; }

class ParseErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseErrorTest, ReportsExactMessage) {
  Expected<Graph> parsed = parseGraph(GetParam().text, "m.cnn");
  ASSERT_FALSE(parsed) << "parsed without error:\n" << GetParam().text;
  EXPECT_EQ(parsed.error().message, GetParam().message);
}

// A graph whose first lines define %x : f32[2,3,8,8] and %w : f32[4,3,3,3],
// followed by `body` (which sits on line 4).
std::string withConvInputs(std::string_view body) {
  return "graph @g {\n"
         "  %x = input : f32[2,3,8,8]\n"
         "  %w = param : f32[4,3,3,3]\n" +
         std::string(body);
}

// A dense layer's weight gradient %dw with attributes `attrs`, the lines
// `before` it and `after` it.
std::string withDenseGradients(std::string_view attrs, std::string_view after, std::string_view before = "") {
  return fmt::format("graph @g {{\n  %x = input : f32[2,5]\n  %dy = input : f32[2,3]\n{}"
                     "  %dw = dense_bwd_weight %dy, %x {} : f32[3,5]\n{}  return %dw\n}}\n",
                     before, attrs, after);
}

// A batch norm %y in training form with operands `operands` after its own
// four and attributes `attrs`, beside %r : f32[`residual`]; %y sits on line 7.
std::string withBatchNormResidual(std::string_view residual, std::string_view operands, std::string_view attrs) {
  return fmt::format("graph @g {{\n  %x = input : f32[2,4,3,3]\n  %s = input : f32[2,4]\n  %g = param : f32[4]\n"
                     "  %b = param : f32[4]\n  %r = input : f32[{}]\n"
                     "  %y = batch_norm_train %x, %s, %g, %b{} {} : f32[2,4,3,3]\n  return %y\n}}\n",
                     residual, operands, attrs);
}

// A strided data gradient %dx with a fused projection (ir/fused_projection.h)
// of output gradient %p : f32[`gradient`] and filter %u : f32[`filter`], in
// `layout`, with operands `operands` and attributes `attrs`; %dx sits on
// line 6.
std::string withProjection(std::string_view gradient, std::string_view filter, std::string_view operands,
                           std::string_view attrs, std::string_view layout = "<NCHW16c>") {
  return fmt::format("graph @g {{\n  %g = input : f32[2,16,4,4]{0}\n  %v = param : f32[16,16,3,3]{0}\n"
                     "  %p = input : f32[{1}]{0}\n  %u = param : f32[{2}]{0}\n"
                     "  %dx = conv2d_bwd_data %g, %v{3} {{input_hw=[8,8], pads=[0,0,1,1], {4}strides=[2,2]}} : "
                     "f32[2,16,8,8]{0}\n  return %dx\n}}\n",
                     layout, gradient, filter, operands, attrs);
}

const ErrorCase kErrorCases[] = {
    // Lexical errors and garbage.
    {"EmptyFile", "", "m.cnn:1:1: expected 'graph' but found end of input"},
    {"OnlyComments", "// nothing\n# here\n", "m.cnn:3:1: expected 'graph' but found end of input"},
    {"BinaryGarbage", "\x7f" "ELF\x02\x01\x01", "m.cnn:1:1: unexpected byte 0x7f"},
    {"NulByteInGraph", std::string("graph @g {\n  %x = input : f32[1]") + '\0' + "\n",
     "m.cnn:2:22: unexpected byte 0x00"},
    {"StrayCharacter", "graph @g {\n  %x = input : f32[1] $\n", "m.cnn:2:23: unexpected character '$'"},
    {"UnterminatedQuotedName", "graph @g {\n  %\"block 1 = input : f32[1]\n  return %x\n}\n",
     "m.cnn:2:4: unterminated quoted name"},
    {"BadEscapeInQuotedName", "graph @g {\n  %\"a\\n\" = input : f32[1]\n",
     "m.cnn:2:6: invalid escape in quoted name: '\\' followed by character 'n'"},
    {"UnquotedPlusInName", "graph @g {\n  %1e+5 = input : f32[1]\n",
     "m.cnn:2:4: name '1e+5' holds a '+' and must be quoted"},
    {"EmptyValueName", "graph @g {\n  %\"\" = input : f32[1]\n", "m.cnn:2:3: a value name cannot be empty"},
    {"MissingGraphSigil", "graph g {\n", "m.cnn:1:7: expected '@' but found 'g'"},

    // Truncated input.
    {"TruncatedAfterHeader", "graph @g {",
     "m.cnn:1:11: expected a statement (%name = ...) or 'return' but found end of input"},
    {"TruncatedAfterSigil", "graph @g {\n  %", "m.cnn:2:4: expected a name after '%' but found end of input"},
    {"TruncatedInType", "graph @g {\n  %x = input : f32[1,",
     "m.cnn:2:22: expected an integer but found end of input"},
    {"TruncatedInAttributes", withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], strides=[1,1]"),
     "m.cnn:4:52: expected '}' but found end of input"},
    {"TruncatedAfterReturn", "graph @g {\n  %x = input : f32[1]\n  return %x\n",
     "m.cnn:4:1: expected '}' but found end of input"},
    {"MissingReturn", "graph @g {\n  %x = input : f32[1]\n}\n",
     "m.cnn:3:1: expected a statement (%name = ...) or 'return' but found '}'"},
    {"ReturnWithoutValues", "graph @g {\n  %x = input : f32[1]\n  return\n}\n",
     "m.cnn:4:1: expected '%' but found '}'"},
    {"MissingColon", "graph @g {\n  %x = input f32[1]\n", "m.cnn:2:14: expected ':' but found 'f32'"},
    {"TrailingGarbage", "graph @g {\n  %x = input : f32[1]\n  return %x\n} extra\n",
     "m.cnn:4:3: expected end of input after the graph but found 'extra'"},
    {"SecondGraph", "graph @g {\n  %x = input : f32[1]\n  return %x\n}\ngraph @h {\n",
     "m.cnn:5:1: expected end of input after the graph but found 'graph'"},

    // Names and values.
    {"UnknownOp", "graph @g {\n  %x = input : f32[1,4]\n  %y = conv3d %x : f32[1,4]\n  return %y\n}\n",
     "m.cnn:3:8: unknown op 'conv3d'"},
    {"UndefinedValue", "graph @g {\n  %x = input : f32[1]\n  %y = relu %foo : f32[1]\n  return %y\n}\n",
     "m.cnn:3:13: use of undefined value %foo"},
    {"Cycle", "graph @g {\n  %a = relu %b : f32[1]\n  %b = relu %a : f32[1]\n  return %b\n}\n",
     "m.cnn:2:13: use of undefined value %b"},
    {"UndefinedQuotedValue", "graph @g {\n  %x = input : f32[1]\n  return %\"block 1\"\n}\n",
     "m.cnn:3:10: use of undefined value %\"block 1\""},
    {"DuplicateName", "graph @g {\n  %x = input : f32[1]\n  %x = relu %x : f32[1]\n  return %x\n}\n",
     "m.cnn:3:3: value %x is defined twice"},
    {"WrongArity", "graph @g {\n  %x = input : f32[1]\n  %y = relu %x, %x : f32[1]\n  return %y\n}\n",
     "m.cnn:3:8: relu takes 1 operands, got 2"},
    {"LeafWithOperands", "graph @g {\n  %x = input : f32[1]\n  %y = param %x : f32[1]\n",
     "m.cnn:3:14: param takes no operands"},
    {"LeafWithAttributes", "graph @g {\n  %x = state {rate=0.5} : f32[1]\n",
     "m.cnn:2:14: state takes no attributes"},

    // Types.
    {"BadDType", "graph @g {\n  %x = input : f16[1]\n", "m.cnn:2:16: unknown element type 'f16'"},
    {"BadLayout", "graph @g {\n  %x = input : f32[1,16,2,2]<NCHW4c>\n", "m.cnn:2:30: unknown layout 'NCHW4c'"},
    {"EmptyLayout", "graph @g {\n  %x = input : f32[1]<>\n",
     "m.cnn:2:23: expected a layout name such as NCHW16c but found '>'"},
    {"FloatDimension", "graph @g {\n  %x = input : f32[1.5]\n",
     "m.cnn:2:20: expected an integer but found '1.5'"},
    {"LeafZeroDim", "graph @g {\n  %x = input : f32[8,0]\n",
     "m.cnn:2:16: dimensions must be at least 1, got f32[8,0]"},
    {"LeafNegativeDim", "graph @g {\n  %x = param : f32[-1]\n",
     "m.cnn:2:16: dimensions must be at least 1, got f32[-1]"},
    {"DimOverflowsInt64", "graph @g {\n  %x = input : f32[99999999999999999999]\n",
     "m.cnn:2:20: number 99999999999999999999 does not fit in 64 bits"},
    {"SizeOverflowsInt64", "graph @g {\n  %x = input : f32[4611686018427387904,4]\n",
     "m.cnn:2:16: the size of f32[4611686018427387904,4] overflows 64 bits"},
    {"DeclaredTypeMismatch",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], strides=[1,1]} : f32[2,4,8,8]\n"),
     "m.cnn:4:56: declared type f32[2,4,8,8] but the operands give f32[2,4,6,6]"},
    {"OperandTypeMismatch",
     "graph @g {\n  %x = input : f32[2,10]\n  %l = input : f32[2]\n  %loss = softmax_xent %x, %l : f32[]\n",
     "m.cnn:4:11: softmax_xent labels must be i32[2] or i64[2], got f32[2]"},

    // Attributes.
    {"AttributeOfWrongKind",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], strides=relu} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d needs attribute strides as a list of 2 integers"},
    {"MissingRequiredAttribute", withConvInputs("  %c = conv2d %x, %w {strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d needs attribute pads as a list of 4 integers"},
    {"UnknownAttributeKey",
     withConvInputs("  %c = conv2d %x, %w {dilation=[1,1], pads=[0,0,0,0], strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d has no attribute dilation"},
    {"DuplicateAttributeKey",
     "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=0.5, rate=0.1} : f32[4]\n",
     "m.cnn:3:30: attribute 'rate' is given twice"},
    {"NegativeAttributeEntry",
     withConvInputs("  %c = conv2d %x, %w {pads=[-1,0,0,0], strides=[1,1]} : f32[2,4,7,6]\n"),
     "m.cnn:4:8: conv2d attribute pads must have entries >= 0, got [-1,0,0,0]"},
    {"FloatWithExponentSign", "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=1e+20} : f32[4]\n",
     "m.cnn:3:8: dropout attribute rate must be in [0, 1), got 1e+20"},
    {"FloatOutOfRange", "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=1e999} : f32[4]\n",
     "m.cnn:3:25: number 1e999 does not fit in a 64-bit float"},
    {"MalformedNumber", "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=1.2.3} : f32[4]\n",
     "m.cnn:3:25: malformed number '1.2.3'"},
    {"ValueAsAttributeValue", "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=%x} : f32[4]\n",
     "m.cnn:3:25: expected an attribute value (a number, a symbol or a list) but found '%'"},
    {"QuotedSymbolWhereAFloatBelongs", "graph @g {\n  %x = input : f32[4]\n  %y = dropout %x {rate=\"x\"} : f32[4]\n",
     "m.cnn:3:8: dropout needs float attribute rate"},

    // Whole-graph rules that only the verifier knows: the parser reports its
    // message, without a location.
    {"AssignToComputedValue",
     "graph @g {\n  %x = input : f32[4]\n  %y = relu %x : f32[4]\n  %a = assign %y, %x : f32[4]\n"
     "  return %a\n}\n",
     "m.cnn: %a = assign: can only assign to a param or state, not to %y"},
    {"AssignedTwice",
     "graph @g {\n  %w = param : f32[4]\n  %a = assign %w, %w : f32[4]\n  %b = assign %w, %w : f32[4]\n"
     "  return %b\n}\n",
     "m.cnn: %b = assign: %w is assigned twice"},
    {"FusedBiasGradientNamesNoValue", withDenseGradients("{bias_grad=db2}", ""),
     "m.cnn: %dw = dense_bwd_weight: attribute bias_grad=db2 names no value"},
    {"FusedBiasGradientOfAnotherGradient", withDenseGradients("{bias_grad=db}", "  %db = bias_grad %x : f32[5]\n"),
     "m.cnn: %dw = dense_bwd_weight: attribute bias_grad=db must name a bias_grad of %dy"},
    {"FusedBiasGradientNotABiasGradient", withDenseGradients("{bias_grad=dy}", ""),
     "m.cnn: %dw = dense_bwd_weight: attribute bias_grad=dy must name a bias_grad of %dy"},
    {"FusedBiasGradientDefinedBefore", withDenseGradients("{bias_grad=db}", "", "  %db = bias_grad %dy : f32[3]\n"),
     "m.cnn: %dw = dense_bwd_weight: attribute bias_grad=db names a value defined before the node"},
    {"FusedBiasGradientComputedTwice",
     withDenseGradients("{bias_grad=db}",
                        "  %dw2 = dense_bwd_weight %dy, %x {bias_grad=db} : f32[3,5]\n  %db = bias_grad %dy : f32[3]\n"),
     "m.cnn: %dw2 = dense_bwd_weight: attribute bias_grad=db names a value another node computes"},
    {"FusedPoolingOfAPlainResult",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], pool=p, strides=[1,1]} : f32[2,4,6,6]\n"
                    "  %p = max_pool2d %c {pads=[0,0,0,0], strides=[2,2], window=[2,2]} : f32[2,4,3,3]\n"
                    "  return %p\n}\n"),
     "m.cnn: %c = conv2d: attribute pool=p must name a max_pool2d or avg_pool2d of its blocked result whose windows "
     "tile it (window = strides, no padding)"},
    {"FusedPoolingNotASymbol",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], pool=2, strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d attribute pool must name a value, got 2"},
    {"FusedStatisticsOfAPlainResult",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], stats=s, strides=[1,1]} : f32[2,4,6,6]\n"
                    "  %s = batch_norm_stats %c : f32[2,4]\n  return %s\n}\n"),
     "m.cnn: %c = conv2d: attribute stats=s must name a batch_norm_stats of its blocked result"},
    {"FusedStatisticsNamesNoValue",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], stats=nothing, strides=[1,1]} : f32[2,4,6,6]\n"
                    "  return %c\n}\n"),
     "m.cnn: %c = conv2d: attribute stats=nothing must name a batch_norm_stats of its blocked result"},
    {"FusedStatisticsNotASymbol",
     withConvInputs("  %c = conv2d %x, %w {pads=[0,0,0,0], stats=[1], strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d attribute stats must name a value, got [1]"},
    {"FusedGammaGradientOfAnotherValue",
     withConvInputs("  %c = conv2d %x, %w {gamma_grad=g, pads=[0,0,0,0], strides=[1,1]} : f32[2,4,6,6]\n"
                    "  %s = batch_norm_stats %c : f32[2,4]\n"
                    "  %g = batch_norm_bwd_gamma %c, %c, %s {epsilon=1e-05} : f32[4]\n  return %g\n}\n"),
     "m.cnn: %c = conv2d: attribute gamma_grad=g must name a batch_norm_bwd_gamma of its blocked result, on a "
     "convolution or data gradient without stats or pool, or of its output gradient, on a batch_norm_bwd_gamma"},
    {"FusedGammaGradientNotASymbol",
     withConvInputs("  %c = conv2d %x, %w {gamma_grad=1, pads=[0,0,0,0], strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d attribute gamma_grad must name a value, got 1"},
    {"FusedBiasGradientNotASymbol", withDenseGradients("{bias_grad=[1]}", ""),
     "m.cnn:4:9: dense_bwd_weight attribute bias_grad must name a value, got [1]"},
    {"FusedResidualOfAnotherType", withBatchNormResidual("2,4,3,5", ", %r", "{epsilon=1e-05, residual=bn}"),
     "m.cnn:7:8: batch_norm_train operand 4 (the residual) must be f32[2,4,3,3], got f32[2,4,3,5]"},
    {"FusedResidualMissing", withBatchNormResidual("2,4,3,3", "", "{epsilon=1e-05, residual=bn}"),
     "m.cnn:7:8: batch_norm_train with attribute residual takes the residual besides its own operands, got 4 operands"},
    {"FusedResidualNotASymbol", withBatchNormResidual("2,4,3,3", ", %r", "{epsilon=1e-05, residual=[1]}"),
     "m.cnn:7:8: batch_norm_train attribute residual must name the node it absorbed, got [1]"},
    {"FusedResidualAndActivationGradientMissing",
     withConvInputs("  %c = conv2d %x, %w {activation_gradient=relu, fused=r, pads=[0,0,0,0], residual=d, "
                    "strides=[1,1]} : f32[2,4,6,6]\n"),
     "m.cnn:4:8: conv2d with attributes residual and activation_gradient takes the residual and the activation's "
     "output besides its own operands, got 2 operands"},
    {"FusedProjectionMissing", withProjection("2,16,4,4", "16,16,1,1", ", %p", "projection=s, "),
     "m.cnn:6:9: conv2d_bwd_data with attribute projection takes the projection's output gradient and filter after "
     "its own two operands, got 3 operands"},
    {"FusedProjectionUnnamed", withProjection("2,16,4,4", "16,16,1,1", ", %p, %u", ""),
     "m.cnn:6:9: conv2d_bwd_data takes 2 operands (4 with attribute projection), got 4"},
    {"FusedProjectionNotASymbol", withProjection("2,16,4,4", "16,16,1,1", ", %p, %u", "projection=[1], "),
     "m.cnn:6:9: conv2d_bwd_data attribute projection must name the node it absorbed, got [1]"},
    {"FusedProjectionNotPointwise", withProjection("2,16,4,4", "16,16,1,2", ", %p, %u", "projection=s, "),
     "m.cnn:6:9: conv2d_bwd_data projection weight must be [P,C,1,1], got [16,16,1,2]"},
    {"FusedProjectionGradientOfAnotherShape", withProjection("2,16,4,5", "16,16,1,1", ", %p, %u", "projection=s, "),
     "m.cnn:6:9: conv2d_bwd_data gradient [2,16,4,5] does not match the forward result [2,16,4,4]"},
    {"FusedProjectionInPlainLayouts", withProjection("2,16,4,4", "16,16,1,1", ", %p, %u", "projection=s, ", ""),
     "m.cnn:6:9: conv2d_bwd_data adds a projection in channel-blocked layouts only"},
    {"FusedResidualOnAnotherOp", "graph @g {\n  %x = input : f32[4]\n  %y = relu %x, %x {residual=bn} : f32[4]\n",
     "m.cnn:3:8: relu takes no attribute residual"},
};

INSTANTIATE_TEST_SUITE_P(IrText, ParseErrorTest, ::testing::ValuesIn(kErrorCases),
                         ByName{});

// ---------------------------------------------------------------------------
// Robustness: whatever the input, the parser returns a one-line message that
// names the source, or a graph that verifies and prints back the same.

void expectWellBehaved(const std::string& text) {
  Expected<Graph> parsed = parseGraph(text, "fuzz.cnn");
  if (!parsed) {
    const std::string& message = parsed.error().message;
    EXPECT_EQ(message.rfind("fuzz.cnn:", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return;
  }
  EXPECT_TRUE(verify(*parsed));
  Expected<Graph> reparsed = parseGraph(printGraph(*parsed), "fuzz.cnn");
  ASSERT_TRUE(reparsed) << reparsed.error().message;
  EXPECT_EQ(*reparsed, *parsed);
}

TEST(IrTextParse, EveryTruncationFailsCleanly) {
  std::string text = printGraph(forwardGraph());
  // Everything before the closing '}' is incomplete.
  size_t closing = text.rfind('}');
  for (size_t length = 0; length < text.size(); ++length) {
    std::string prefix = text.substr(0, length);
    Expected<Graph> parsed = parseGraph(prefix, "fuzz.cnn");
    EXPECT_EQ(static_cast<bool>(parsed), length > closing) << prefix;
    expectWellBehaved(prefix);
  }
}

TEST(IrTextParse, RandomMutationsNeverCrash) {
  const std::string text =
      printGraph(oddNamesGraph()) + printGraph(forwardGraph()) + printGraph(trainingGraph());
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 3000; ++round) {
    std::string mutated = text;
    for (int edits = 1 + round % 4; edits > 0; --edits) {
      size_t at = std::uniform_int_distribution<size_t>(0, mutated.size() - 1)(random);
      switch (round % 3) {
        case 0: mutated[at] = static_cast<char>(byte(random)); break;
        case 1: mutated.erase(at, 1 + at % 7); break;
        default: mutated.insert(at, 1, "%@{}[]<>=,:\"\\#/-+.e9"[at % 20]); break;
      }
    }
    expectWellBehaved(mutated);
  }
}

TEST(IrTextParse, AbsurdInputFailsQuickly) {
  expectWellBehaved(std::string(1 << 20, '['));
  expectWellBehaved("graph @g {\n" + std::string(1 << 20, '%'));
  expectWellBehaved("graph @g {\n  %x = input : f32[" + std::string(100000, '9') + "]\n");
  expectWellBehaved("graph @g {\n  %x = input : f32[" + std::string(1 << 16, '1') + "e5]\n");
  expectWellBehaved("graph @\"" + std::string(1 << 20, '\\'));
}

}  // namespace
}  // namespace cnnc
