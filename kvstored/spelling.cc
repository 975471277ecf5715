// spelling.cc: see spelling.h.
#include "spelling.h"

#include <algorithm>

namespace kv::spelling {

size_t distance(std::string_view a, std::string_view b)
{
    // d[i][j]: the distance between the first i letters of a and the first j of b.
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t change = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + change});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

std::string nearest(std::string_view typed, const std::vector<std::string>& known)
{
    auto length_gap = [&](const std::string& w) {
        return w.size() > typed.size() ? w.size() - typed.size() : typed.size() - w.size();
    };
    const std::string* best = nullptr;
    size_t best_distance = 0;
    for (const std::string& word : known) {
        size_t d = distance(typed, word);
        if (d > 2 || 2 * d >= typed.size())
            continue;
        if (!best || d < best_distance || (d == best_distance && length_gap(word) < length_gap(*best))) {
            best = &word;
            best_distance = d;
        }
    }
    return best ? *best : "";
}

}  // namespace kv::spelling
