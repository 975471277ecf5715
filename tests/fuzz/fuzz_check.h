// fuzz_check.h: how the fuzz targets report a broken invariant. A crash is
// what libFuzzer records (with the input that caused it), so a violated
// invariant prints what was expected and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace kvfuzz {

[[noreturn]] inline void fail(const char* what)
{
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

inline void require(bool ok, const char* what)
{
    if (!ok)
        fail(what);
}

// True when `part` is a view into `whole` (or empty): parsers must hand back
// views of their input, never of a temporary.
inline bool points_into(std::string_view part, std::string_view whole)
{
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// A streaming parser's outcome must not depend on how its input arrives:
// run(max_piece) feeds the whole input in appends of 1 to max_piece bytes
// (0: all at once) and returns what came out, comparable with ==.
template <typename Run> inline void require_same_outcome_whatever_the_appends(Run run)
{
    const auto whole = run(0);
    require(run(97) == whole, "the same outcome whatever the appends (1 to 97 bytes)");
    require(run(1) == whole, "the same outcome a byte at a time");
}

}  // namespace kvfuzz
