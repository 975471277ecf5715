// glob.cc: see glob.h. The compilation below walks a pattern exactly as
// Redis 7.0's stringmatchlen walks it (util.c), so that each element covers
// the same pattern bytes and matches the same string bytes.
#include "glob.h"

#include <cctype>

namespace kv::redis {
namespace {

// Redis compares `char`s, signed on the platforms it runs on: a range's ends
// and the byte tested are -128..127 there, so [a-\xff] is a range downwards.
int as_char(unsigned char b)
{
    return static_cast<signed char>(b);
}

int fold(int c)
{
    // Redis calls tolower() on a (signed) char; in the C locale only ASCII
    // letters change.
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

// The bytes a literal byte `p` matches.
std::bitset<256> literal(unsigned char p, bool nocase)
{
    std::bitset<256> set;
    for (int b = 0; b < 256; ++b)
        if (nocase ? fold(as_char(static_cast<unsigned char>(b))) == fold(as_char(p)) : b == p)
            set.set(static_cast<size_t>(b));
    return set;
}

}  // namespace

GlobPattern::GlobPattern(std::string_view pat, bool nocase) : empty_(pat.empty())
{
    const size_t n = pat.size();
    size_t i = 0;
    auto byte = [&](size_t k) { return static_cast<unsigned char>(pat[k]); };
    while (i < n && !nocase && pat[i] != '*' && pat[i] != '?' && pat[i] != '[' && pat[i] != '\\')
        prefix_.push_back(pat[i++]);
    i = 0;
    while (i < n) {
        Element e;
        switch (pat[i]) {
        case '*':
            while (i < n && pat[i] == '*')
                ++i;
            e.star = true;
            elements_.push_back(e);
            continue;
        case '?':
            e.bytes.set();
            ++i;
            break;
        case '[': {
            size_t j = i + 1;
            bool negate = j < n && pat[j] == '^';
            if (negate)
                ++j;
            for (;; ++j) {
                if (j >= n) {  // unclosed: the element ends with the pattern
                    --j;
                    break;
                }
                if (pat[j] == '\\' && n - j >= 2) {
                    ++j;
                    e.bytes.set(byte(j));  // Redis compares an escaped byte exactly, even with nocase
                } else if (pat[j] == ']') {
                    break;
                } else if (n - j >= 3 && pat[j + 1] == '-') {
                    int start = as_char(byte(j)), end = as_char(byte(j + 2));
                    if (start > end)
                        std::swap(start, end);
                    if (nocase) {
                        start = fold(start);
                        end = fold(end);
                    }
                    for (int b = 0; b < 256; ++b) {
                        int c = as_char(static_cast<unsigned char>(b));
                        if (nocase)
                            c = fold(c);
                        if (c >= start && c <= end)
                            e.bytes.set(static_cast<size_t>(b));
                    }
                    j += 2;
                } else {
                    e.bytes |= literal(byte(j), nocase);
                }
            }
            if (negate)
                e.bytes.flip();
            i = j + 1;
            break;
        }
        case '\\':
            if (n - i >= 2)
                ++i;
            [[fallthrough]];
        default:
            e.bytes = literal(byte(i), nocase);
            ++i;
            break;
        }
        elements_.push_back(e);
        ++needs_;
    }
    // The bit-parallel form needs a bit for each element and one past the
    // last: up to kMaxWords words, which any pattern that can match 250 bytes
    // fits in (stars are never adjacent: at most 2 x 250 + 1 elements).
    const size_t count = elements_.size();
    if (count + 1 > kMaxWords * 64)
        return;
    words_ = count / 64 + 1;
    masks_.assign(256 * words_, 0);
    stars_.assign(words_, 0);
    for (size_t p = 0; p < count; ++p) {
        const uint64_t bit = uint64_t{1} << (p % 64);
        if (elements_[p].star) {
            stars_[p / 64] |= bit;
            continue;
        }
        for (size_t b = 0; b < 256; ++b)
            if (elements_[p].bytes.test(b))
                masks_[b * words_ + p / 64] |= bit;
    }
}

bool GlobPattern::matches(std::string_view s) const
{
    // Redis's loop never runs for an empty string: only "" matches it.
    if (s.empty())
        return empty_;
    if (needs_ > s.size())
        return false;
    // The elements before the first star and after the last one take fixed
    // bytes at the ends: a cheap first refusal for most keys.
    const size_t count = elements_.size();
    auto takes = [&](size_t p, size_t i) { return elements_[p].bytes.test(static_cast<unsigned char>(s[i])); };
    for (size_t p = 0; p < count && !elements_[p].star; ++p)
        if (p >= s.size() || !takes(p, p))
            return false;
    for (size_t p = count, i = s.size(); p > 0 && !elements_[p - 1].star && i > 0; --p, --i)
        if (!takes(p - 1, i - 1))
            return false;
    if (words_ == 0)
        return scan(s);
    // Bit p of `d`: the first p elements match the bytes read so far. A star
    // keeps its bit (it takes the byte) and passes it on unread (it may take
    // none); any other element passes its bit on when it takes the byte.
    uint64_t d[kMaxWords] = {1};
    auto close = [&] {
        uint64_t carry = 0;
        for (size_t w = 0; w < words_; ++w) {
            uint64_t st = d[w] & stars_[w];
            d[w] |= (st << 1) | carry;  // never two stars in a row: one pass
            carry = st >> 63;
        }
    };
    close();
    for (unsigned char c : s) {
        const uint64_t* m = &masks_[c * words_];
        uint64_t carry = 0, any = 0;
        for (size_t w = 0; w < words_; ++w) {
            uint64_t moved = d[w] & m[w];
            uint64_t next = (moved << 1) | carry | (d[w] & stars_[w]);
            carry = moved >> 63;
            d[w] = next;
            any |= next;
        }
        if (any == 0)
            return false;
        close();
    }
    return (d[count / 64] >> (count % 64)) & 1;
}

bool GlobPattern::scan(std::string_view s) const
{
    const size_t count = elements_.size();
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t p = 0, i = 0;
    size_t star_p = kNone, star_i = 0;  // where to resume after the last '*'
    while (i < s.size()) {
        if (p < count && elements_[p].star) {
            star_p = ++p;
            star_i = i;
            if (p == count)
                return true;
        } else if (p < count && elements_[p].bytes.test(static_cast<unsigned char>(s[i]))) {
            ++p;
            ++i;
        } else if (star_p != kNone) {
            // The last star takes one more byte; what follows it starts again.
            p = star_p;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (p < count && elements_[p].star)
        ++p;
    return p == count;
}

bool stringmatch(std::string_view pattern, std::string_view s, bool nocase)
{
    return GlobPattern(pattern, nocase).matches(s);
}

}  // namespace kv::redis
