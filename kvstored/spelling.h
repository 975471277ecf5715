// spelling.h: the nearest known word to a mistyped one, for "did you mean"
// hints (an unknown subcommand; a configuration key).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kv::spelling {

// The edits that turn `a` into `b`: insertions, deletions, substitutions and
// swaps of two neighbouring letters, each counting 1 (the optimal string
// alignment distance). "stauts" is 1 from "status".
size_t distance(std::string_view a, std::string_view b);

// The word of `known` nearest to `typed`, or "" when none is near enough to be
// a likely typo: at most 2 edits, and fewer than half of `typed`'s letters (so
// "x" suggests nothing). Of two equally near, the one of `typed`'s length
// wins ("stauts": status, not stats), then the first listed.
std::string nearest(std::string_view typed, const std::vector<std::string>& known);

}  // namespace kv::spelling
