// test_auth_throttle.cc: password checks counted per address (auth_throttle.h):
// failed ones within the window and pending ones together block the address
// at the limit (10 by default), until the window from its start has passed; other
// addresses are not touched; the table stays within kMaxAddresses. And the
// familiar addresses, those that logged in lately, within kMaxFamiliar.
#include <catch2/catch.hpp>

#include <string>

#include "auth_throttle.h"

using kv::AuthThrottle;
using namespace std::chrono_literals;

namespace {

void fail(AuthThrottle& t, const std::string& host, AuthThrottle::Clock::time_point at)
{
    t.started(host, at);
    t.checked(host, true, at);
}

}  // namespace

TEST_CASE("an address is blocked from its 10th failure within a minute until that minute has passed", "[auth]")
{
    AuthThrottle t;
    const auto t0 = AuthThrottle::Clock::now();
    for (unsigned i = 1; i < AuthThrottle::kDefaultMaxFailures; ++i)
        fail(t, "198.51.100.7", t0 + i * 1s);
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 10s));
    fail(t, "198.51.100.7", t0 + 10s);
    CHECK(t.blocks("198.51.100.7", t0 + 10s));
    CHECK(t.blocks("198.51.100.7", t0 + 59s));
    CHECK_FALSE(t.blocks("203.0.113.9", t0 + 10s));  // another address
    // The window counts from its first check (t0 + 1 s).
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 61s));
    // A failure after the window starts a new count.
    fail(t, "198.51.100.7", t0 + 62s);
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 62s));
}

TEST_CASE("checks still pending count against the address as failures do", "[auth]")
{
    AuthThrottle t;
    const auto t0 = AuthThrottle::Clock::now();
    for (unsigned i = 0; i < AuthThrottle::kDefaultMaxFailures; ++i)
        t.started("198.51.100.7", t0);
    CHECK(t.blocks("198.51.100.7", t0));  // a burst queues no more than 10
    t.checked("198.51.100.7", false, t0 + 1s);  // a right password frees its place
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 1s));
    t.started("198.51.100.7", t0 + 1s);
    CHECK(t.blocks("198.51.100.7", t0 + 1s));
    t.dropped("198.51.100.7");  // its session went away before the check ran
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 1s));
}

TEST_CASE("failures spread wider than the window never block", "[auth]")
{
    AuthThrottle t;
    const auto t0 = AuthThrottle::Clock::now();
    for (int i = 0; i < 100; ++i) {
        fail(t, "198.51.100.7", t0 + i * 7s);  // about 9 a minute
        CHECK_FALSE(t.blocks("198.51.100.7", t0 + i * 7s));
    }
}

TEST_CASE("the throttle tracks at most kMaxAddresses and drops expired ones for new ones", "[auth]")
{
    AuthThrottle t;
    const auto t0 = AuthThrottle::Clock::now();
    for (size_t i = 0; i < AuthThrottle::kMaxAddresses; ++i)
        fail(t, "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0);
    CHECK(t.tracked() == AuthThrottle::kMaxAddresses);
    // Full, nothing expired: a new address is not tracked, so never blocked.
    for (unsigned i = 0; i < AuthThrottle::kDefaultMaxFailures; ++i)
        fail(t, "198.51.100.7", t0 + 1s);
    CHECK(t.tracked() == AuthThrottle::kMaxAddresses);
    CHECK_FALSE(t.blocks("198.51.100.7", t0 + 1s));
    // Once the others' window has passed, they make room.
    for (unsigned i = 0; i < AuthThrottle::kDefaultMaxFailures; ++i)
        fail(t, "198.51.100.7", t0 + 61s);
    CHECK(t.tracked() == 1);
    CHECK(t.blocks("198.51.100.7", t0 + 61s));
}

TEST_CASE("the limit per address is the one given, and 0 turns it off", "[auth]")
{
    const auto t0 = AuthThrottle::Clock::now();
    AuthThrottle three(3);
    for (int i = 0; i < 3; ++i)
        fail(three, "198.51.100.7", t0);
    CHECK(three.blocks("198.51.100.7", t0));
    AuthThrottle off(0);
    for (int i = 0; i < 100; ++i)
        fail(off, "198.51.100.7", t0);
    CHECK_FALSE(off.blocks("198.51.100.7", t0));
    CHECK(off.tracked() == 0);
}

TEST_CASE("an address that logged in is familiar for a week, failures never make one, and 0 keeps it", "[auth]")
{
    const auto t0 = AuthThrottle::Clock::now();
    for (unsigned limit : {AuthThrottle::kDefaultMaxFailures, 0u}) {
        INFO("limit " << limit);
        AuthThrottle t(limit);
        fail(t, "198.51.100.7", t0);
        CHECK_FALSE(t.familiar("198.51.100.7", t0));
        t.started("192.0.2.10", t0);
        t.checked("192.0.2.10", false, t0);
        CHECK(t.familiar("192.0.2.10", t0 + AuthThrottle::kFamiliarFor - 1s));
        CHECK_FALSE(t.familiar("192.0.2.10", t0 + AuthThrottle::kFamiliarFor));
        CHECK_FALSE(t.familiar("203.0.113.9", t0));
        // Another login renews it.
        t.checked("192.0.2.10", false, t0 + 24h);
        CHECK(t.familiar("192.0.2.10", t0 + AuthThrottle::kFamiliarFor));
    }
}

TEST_CASE("at most 4096 familiar addresses are kept, the least recent login forgotten first", "[auth]")
{
    AuthThrottle t;
    const auto t0 = AuthThrottle::Clock::now();
    auto address = [](size_t i) { return "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256); };
    for (size_t i = 0; i < AuthThrottle::kMaxFamiliar; ++i)
        t.checked(address(i), false, t0 + std::chrono::seconds(i));
    t.checked(address(0), false, t0 + 5000s);  // the oldest logs in again
    t.checked("192.0.2.10", false, t0 + 5001s);
    CHECK(t.familiar_count() == AuthThrottle::kMaxFamiliar);
    CHECK(t.familiar("192.0.2.10", t0 + 5001s));
    CHECK(t.familiar(address(0), t0 + 5001s));
    CHECK_FALSE(t.familiar(address(1), t0 + 5001s));  // now the least recent
    CHECK(t.familiar(address(2), t0 + 5001s));
}
