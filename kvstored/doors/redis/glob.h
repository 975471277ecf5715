// glob.h: Redis's glob-style patterns (KEYS, SCAN MATCH), with the meaning
// Redis 7.0's stringmatchlen (util.c) gives them, byte for byte:
//   *        any run of bytes, ? any one byte, \x the byte x,
//   [abc] [^abc] [a-z]  one byte from (not from) a set, where \x inside
//            brackets is the byte x, a range's ends may come in either
//            order, and an unclosed bracket runs to the end of the pattern.
// Redis's quirks are kept: "[" alone matches nothing, "[^" matches any byte,
// "[a-]" takes ']' as the end of a range, and no pattern but "" matches the
// empty string (keys are never empty, so only tests see that one).
//
// Cost (docs/redis.md, "Limits"): Redis 7.0 matches by recursion on '*',
// which 7.0.9 pruned to O(pattern x string) steps but left unbounded in
// stack depth; a pattern here is compiled once per command into one 256-bit
// set per element, and a string is matched without recursion or backtracking
// by a bit-parallel automaton (shift-and): one bit per element, a few word
// operations per 64 elements per byte. First the elements before the first
// star and after the last one are checked against the string's ends (cheap,
// and they refuse most keys). A pattern that needs more bytes than the string
// has (elements other than '*') fails at once; any other that can match a key
// has at most 501 elements, 8 words, so matching a key of at most 250 bytes
// costs at most about 250 x 8 word steps whatever the pattern. Measured (thread
// CPU, 10,000 keys of 250 bytes): at most about 35 ms for the worst patterns
// ("*a*a*...*a*", 501 elements; "*" + 125 'a' + "b*"), where the backtracking
// scan took up to 400 ms ("*" + 125 'a' + "c" over keys of 249 'a' and a 'b').
// A longer pattern, which can match only longer strings (tests), falls back to
// the classic "back up to the last star" scan, at most elements x bytes steps.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kv::redis {

class GlobPattern {
public:
    // `nocase` folds ASCII case as Redis's nocase flag does (no command here
    // uses it; it is kept so that the semantics stay those of Redis).
    explicit GlobPattern(std::string_view pattern, bool nocase = false);

    bool matches(std::string_view s) const;
    // The pattern is "*" (or a run of stars): every non-empty string matches.
    bool matches_everything() const { return elements_.size() == 1 && elements_[0].star; }
    // Bytes every match starts with: the pattern's leading literal bytes
    // (before its first *, ?, [ or \), so a caller can list only the keys
    // with that prefix.
    std::string_view literal_prefix() const { return prefix_; }

private:
    struct Element {
        bool star = false;  // a run of '*'
        std::bitset<256> bytes;  // else: the bytes it matches
    };
    static constexpr size_t kMaxWords = 8;  // 511 elements
    bool scan(std::string_view s) const;  // the fallback, for longer patterns

    std::vector<Element> elements_;
    size_t words_ = 0;  // 0: too many elements for the bit-parallel form
    std::vector<uint64_t> masks_;  // [byte * words_ + w]: the non-star elements that take byte
    std::vector<uint64_t> stars_;  // the elements that are '*'

    size_t needs_ = 0;  // elements other than '*': the shortest match
    bool empty_ = false;  // the pattern is ""
    std::string prefix_;
};

// One-shot form of Redis's stringmatchlen(pattern, string, nocase).
bool stringmatch(std::string_view pattern, std::string_view s, bool nocase = false);

}  // namespace kv::redis
