// numbers.h: memcached 1.6.18's number readers (util.c: safe_strtoul,
// safe_strtol, safe_strtoull), to the byte, allocation-free, for the parser
// and every command: leading blanks and a sign pass, the number must end the
// text (which ends at a NUL, as a C string does) or be followed by a blank,
// a result past 64 bits is refused, and an unsigned result that looks
// negative is refused only when the text has a '-' ("-1" is refused, "-0" is
// 0). safe_strtoul and safe_strtol go through a 64-bit long and keep its low
// 32 bits, as memcached does on a 64-bit system ("4294967297" is 1).
#pragma once

#include <cstdint>
#include <string_view>

namespace kv::memcache {

bool safe_strtoull(std::string_view s, uint64_t& out);
bool safe_strtoul(std::string_view s, uint32_t& out);
bool safe_strtol(std::string_view s, int32_t& out);

}  // namespace kv::memcache
