// store.cc: see store.h.
#include "store.h"

#include <algorithm>

namespace kv {

Store::PutResult Store::put(std::string_view key, std::string_view value)
{
    auto it = map_.find(key);
    if (it != map_.end()) {
        it->second.assign(value);
        return PutResult::Replaced;
    }
    if (full())
        return PutResult::Full;
    map_.emplace(std::string(key), std::string(value));
    return PutResult::Inserted;
}

const std::string* Store::get(std::string_view key) const
{
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
}

bool Store::erase(std::string_view key)
{
    auto it = map_.find(key);
    if (it == map_.end())
        return false;
    map_.erase(it);
    return true;
}

std::vector<std::string_view> Store::keys(std::string_view prefix) const
{
    std::vector<std::string_view> out;
    for (const auto& [key, value] : map_)
        if (std::string_view(key).starts_with(prefix))
            out.emplace_back(key);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace kv
