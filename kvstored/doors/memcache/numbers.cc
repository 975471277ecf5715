// numbers.cc: see numbers.h.
#include "numbers.h"

#include <cstdint>

namespace kv::memcache {
namespace {

// isspace() in the C locale.
bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// What strtoull(s, &end, 10) reads: leading blanks, a sign, digits. False
// where strtoul would leave end == s or set ERANGE (the magnitude does not
// fit in 64 bits); else `value` is the magnitude, negated modulo 2^64 after a
// '-', as strtoul returns it. Then memcached's safe_strto* accept the number
// only if it ends the token or a blank follows it.
struct CNumber {
    uint64_t value = 0;  // as strtoul returns it (wrapped when negative)
    uint64_t magnitude = 0;
    bool negative = false;
};

bool c_strtou(std::string_view s, CNumber& n)
{
    s = s.substr(0, s.find('\0'));  // a C string ends at its NUL
    size_t i = 0;
    while (i < s.size() && is_space(s[i]))
        ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
        n.negative = s[i++] == '-';
    const size_t digits = i;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        const auto d = static_cast<uint64_t>(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (i == digits || overflow)
        return false;
    if (i < s.size() && !is_space(s[i]))
        return false;
    n.magnitude = v;
    n.value = n.negative ? 0 - v : v;
    return true;
}

// strchr(str, '-'): memcached refuses a result that looks negative only when
// the C string has a '-' anywhere.
bool has_minus(std::string_view s)
{
    return s.substr(0, s.find('\0')).find('-') != std::string_view::npos;
}

}  // namespace

// safe_strtoul into a uint32_t, as 1.6.18 does it on a 64-bit system: the
// low 32 bits of strtoul's result ("4294967296" is 0); refused when that
// result is negative as a long and the text has a '-'.
bool safe_strtoul(std::string_view s, uint32_t& out)
{
    CNumber n;
    if (!c_strtou(s, n))
        return false;
    if (static_cast<int64_t>(n.value) < 0 && has_minus(s))
        return false;
    out = static_cast<uint32_t>(n.value);
    return true;
}

// safe_strtol into an int32_t: strtol's range is a long's (ERANGE past it),
// then the low 32 bits are kept ("4294967297" is 1).
bool safe_strtol(std::string_view s, int32_t& out)
{
    CNumber n;
    if (!c_strtou(s, n))
        return false;
    if (n.negative ? n.magnitude > uint64_t{1} << 63 : n.magnitude > uint64_t{INT64_MAX})
        return false;
    out = static_cast<int32_t>(static_cast<uint32_t>(n.value));
    return true;
}

// safe_strtoull: refused when the result is negative as a long long and the
// text has a '-' ("-1"; "-0" is 0).
bool safe_strtoull(std::string_view s, uint64_t& out)
{
    CNumber n;
    if (!c_strtou(s, n))
        return false;
    if (static_cast<int64_t>(n.value) < 0 && has_minus(s))
        return false;
    out = n.value;
    return true;
}

}  // namespace kv::memcache
