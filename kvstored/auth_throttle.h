// auth_throttle.h: failed passwords counted per client address (issue 18's
// auth storm), as OpenSSH's PerSourcePenalties count them.
//
// A password check costs tens of milliseconds of CPU on purpose, and one
// address can open session after session to make kvstored pay it again and
// again: the per-session delays and try limit do not stop that, and the
// check queue's bound (auth_worker.h) only caps it at a core, which the
// other clients then lack. So an address may have at most max_failures
// checks (kvstored run --auth-failures-per-address, 10 by default) failed
// within kWindow or still pending; past that its attempts fail at once,
// without a check, until kWindow has passed since the first of those
// failures: one address costs at most max_failures checks a window, however
// fast it sends them. 0 turns the limit off. A right password is refused too
// meanwhile (it cannot be known right without the check); other addresses
// are not affected. fail2ban, fed by the same log lines, bans the address
// for longer (docs/operations.md, "Users").
//
// Familiar addresses: one that logged in within kFamiliarFor has its checks
// queued ahead of the others, with places of their own (auth_worker.h), so
// a storm from many addresses, which the count per address cannot stop,
// does not lock out the clients that have logged in before (as "familiar
// locations" in smart lockout schemes). Kept whatever max_failures is (0
// too), at most kMaxFamiliar addresses, the least recent forgotten first;
// in memory only, so a restart forgets them.
//
// Bounded: at most kMaxAddresses addresses are tracked; past that, those
// with nothing pending and no failure within the window are dropped, and a
// new address finds no room only while kMaxAddresses others have one (then
// the queue's bound is what is left).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace kv {

class AuthThrottle {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr unsigned kDefaultMaxFailures = 10;
    static constexpr std::chrono::seconds kWindow{60};
    static constexpr size_t kMaxAddresses = 4096;
    static constexpr std::chrono::hours kFamiliarFor{24 * 7};
    static constexpr size_t kMaxFamiliar = 4096;

    // 0: no limit (nothing is tracked).
    explicit AuthThrottle(unsigned max_failures = kDefaultMaxFailures) : max_failures_(max_failures) { }

    // Whether attempts from `host` now fail without a check.
    bool blocks(const std::string& host, Clock::time_point now) const;
    // A check for `host` was queued; every one ends in checked() or dropped().
    void started(const std::string& host, Clock::time_point now);
    // It ran: `failed` for a wrong password or an unknown user; a success
    // makes `host` familiar.
    void checked(const std::string& host, bool failed, Clock::time_point now);
    // Whether `host` logged in within kFamiliarFor.
    bool familiar(const std::string& host, Clock::time_point now) const;
    // It was dropped unrun (its session went away).
    void dropped(const std::string& host);
    size_t tracked() const { return entries_.size(); }
    size_t familiar_count() const { return familiar_.size(); }

private:
    struct Entry {
        unsigned failures = 0;
        unsigned pending = 0;  // checks queued or running
        Clock::time_point since;  // when the window began: its first check or failure
    };
    Entry* find_or_add(const std::string& host, Clock::time_point now);
    void drop_expired(Clock::time_point now);
    void remember_familiar(const std::string& host, Clock::time_point now);

    unsigned max_failures_;
    std::unordered_map<std::string, Entry> entries_;
    std::unordered_map<std::string, Clock::time_point> familiar_;  // host -> its last login
};

}  // namespace kv
