// watch_registry.cc: see watch_registry.h.
#include "watch_registry.h"

#include <algorithm>

namespace kv {

bool WatchRegistry::add(std::string_view key, Watcher* w)
{
    auto it = keys_.find(key);
    if (it == keys_.end())
        it = keys_.emplace(std::string(key), std::vector<Watcher*>{}).first;
    std::vector<Watcher*>& watchers = it->second;
    if (std::find(watchers.begin(), watchers.end(), w) != watchers.end())
        return false;
    watchers.push_back(w);
    return true;
}

void WatchRegistry::remove(std::string_view key, Watcher* w)
{
    auto it = keys_.find(key);
    if (it == keys_.end())
        return;
    std::erase(it->second, w);
    if (it->second.empty())
        keys_.erase(it);
}

void WatchRegistry::touch_watched(std::string_view key)
{
    auto it = keys_.find(key);
    if (it == keys_.end())
        return;
    for (Watcher* w : it->second)
        w->dirty = true;
}

void WatchRegistry::touch_if(const std::function<bool(std::string_view)>& existed)
{
    for (auto& [key, watchers] : keys_)
        if (existed(key))
            for (Watcher* w : watchers)
                w->dirty = true;
}

}  // namespace kv
