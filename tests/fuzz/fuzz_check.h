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

}  // namespace kvfuzz
