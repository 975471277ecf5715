// watch_registry.h: which keys Redis sessions WATCH (MULTI/EXEC's optimistic
// locking), so that a write to one of them through any door (Redis, the line
// protocol, an admin load) aborts the watcher's EXEC. Database touches a key
// here on every write path; while nobody watches, a touch is one branch.
//
// A watcher is marked dirty, never told: EXEC looks at the mark. The registry
// holds pointers to watchers, which unregister themselves before they die
// (kv::redis::WatchState's destructor).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kv {

class WatchRegistry {
public:
    // What the registry knows of a watcher: whether a key it watches changed.
    struct Watcher {
        bool dirty = false;
    };

    bool empty() const { return keys_.empty(); }
    // Registers `w` as watching `key`; false (nothing changes) when it already does.
    bool add(std::string_view key, Watcher* w);
    void remove(std::string_view key, Watcher* w);

    // `key` changed: its watchers are dirty.
    void touch(std::string_view key)
    {
        if (!keys_.empty())
            touch_watched(key);
    }
    // Every watched key for which `existed` is true changed (FLUSHALL,
    // FLUSHDB and a replacing load touch the keys that held a value, as
    // Redis's touchAllWatchedKeysInDb does).
    void touch_if(const std::function<bool(std::string_view)>& existed);

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    void touch_watched(std::string_view key);

    std::unordered_map<std::string, std::vector<Watcher*>, Hash, std::equal_to<>> keys_;
};

}  // namespace kv
