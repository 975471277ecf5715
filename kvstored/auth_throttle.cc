// auth_throttle.cc: see auth_throttle.h.
#include "auth_throttle.h"

#include <algorithm>
#include <iterator>

namespace kv {

bool AuthThrottle::blocks(const std::string& host, Clock::time_point now) const
{
    auto it = entries_.find(host);
    if (it == entries_.end())
        return false;
    const Entry& e = it->second;
    unsigned failures = now - e.since < kWindow ? e.failures : 0;
    return failures + e.pending >= max_failures_;
}

AuthThrottle::Entry* AuthThrottle::find_or_add(const std::string& host, Clock::time_point now)
{
    if (max_failures_ == 0)
        return nullptr;
    auto it = entries_.find(host);
    if (it != entries_.end())
        return &it->second;
    if (entries_.size() >= kMaxAddresses)
        drop_expired(now);
    if (entries_.size() >= kMaxAddresses)
        return nullptr;
    return &entries_.emplace(host, Entry{0, 0, now}).first->second;
}

void AuthThrottle::started(const std::string& host, Clock::time_point now)
{
    if (Entry* e = find_or_add(host, now))
        ++e->pending;
}

void AuthThrottle::checked(const std::string& host, bool failed, Clock::time_point now)
{
    if (!failed)
        remember_familiar(host, now);
    // Untracked when it started (no room then): only a failure is worth room now.
    auto it = entries_.find(host);
    Entry* e = it != entries_.end() ? &it->second : failed ? find_or_add(host, now) : nullptr;
    if (!e)
        return;
    if (e->pending > 0)
        --e->pending;
    if (!failed)
        return;
    if (now - e->since >= kWindow) {
        e->failures = 0;
        e->since = now;
    }
    ++e->failures;
}

void AuthThrottle::dropped(const std::string& host)
{
    auto it = entries_.find(host);
    if (it != entries_.end() && it->second.pending > 0)
        --it->second.pending;
}

bool AuthThrottle::familiar(const std::string& host, Clock::time_point now) const
{
    auto it = familiar_.find(host);
    return it != familiar_.end() && now - it->second < kFamiliarFor;
}

// Full, the least recent is forgotten: a scan of kMaxFamiliar entries, only
// when a new address logs in with the table full.
void AuthThrottle::remember_familiar(const std::string& host, Clock::time_point now)
{
    if (auto it = familiar_.find(host); it != familiar_.end()) {
        it->second = now;
        return;
    }
    if (familiar_.size() >= kMaxFamiliar) {
        auto oldest = std::min_element(familiar_.begin(), familiar_.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
        familiar_.erase(oldest);
    }
    familiar_.emplace(host, now);
}

void AuthThrottle::drop_expired(Clock::time_point now)
{
    for (auto it = entries_.begin(); it != entries_.end();) {
        bool expired = it->second.pending == 0 && now - it->second.since >= kWindow;
        it = expired ? entries_.erase(it) : std::next(it);
    }
}

}  // namespace kv
