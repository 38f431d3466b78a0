// The textual form of the IR. One graph per text; one line per node:
//
//   graph @seed-cnn {
//     %input = input : f32[8,3,32,32]
//     %conv2d_0.weight = param : f32[32,3,3,3]
//     %conv2d_0 = conv2d %input, %conv2d_0.weight, %conv2d_0.bias {pads=[0,0,0,0], strides=[1,1]} : f32[8,32,30,30]
//     ...
//     return %dense_7, %loss
//   }
//
// Names that are not plain identifiers ([A-Za-z0-9_.-]+) print quoted:
// %"block 1". Attributes print sorted by key. The parser reads exactly this
// form back into an identical graph.
#pragma once

#include <string>

#include "ir/graph.h"

namespace cnnc {

std::string printGraph(const Graph& graph);
// The same, followed by how many relayout nodes layout selection inserted
// (as a comment, so that the text still reads back): what cnnc dump and
// cnnc-opt print.
std::string printGraphForUsers(const Graph& graph);

// "name" in double quotes, with " and \ escaped: the spelling of names that
// are not plain identifiers.
std::string quoteName(std::string_view name);

// "%name" or %"quoted name": how a value is spelled in text and messages.
std::string valueRef(std::string_view name);

// A symbol attribute's spelling: bare (relu) when it reads back as a word
// that is not a number, else quoted ("1st layer"), so that any layer name
// survives the round trip.
std::string symbolText(std::string_view name);

}  // namespace cnnc
