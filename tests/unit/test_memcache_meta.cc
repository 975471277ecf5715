// Unit tests for the memcached door's meta commands (kvstored/doors/memcache/
// meta.cc), called directly with requests built by hand. Expected bytes are
// memcached 1.6.18's replies to the same lines (cas values aside: kvstore's
// cas is the entry's version, read back from the store), except where
// docs/memcache.md lists a difference.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "doors/memcache/handlers.h"

using namespace kv::memcache;

namespace {

class NoHost final : public Host {
public:
    kv::ServerFacts facts() const override { return {}; }
    uint64_t flush_at(int64_t) override { return 0; }
};

// A memory-only Database, a ManualClock and the meta handlers. (MERGE: the
// lead may fold this into B's memcache fixture header.)
struct Fixture {
    explicit Fixture(size_t capacity = 8, size_t max_value = 64)
        : db(capacity, std::nullopt, kv::WhenFull::Refuse, clock), limits{max_value}
    {
    }

    // The reply to one command line (without its "\r\n"); `data` is ms's block.
    std::string run(Handler handler, std::string_view line, std::string_view data = {}, bool too_large = false)
    {
        line_ = std::string(line);
        data_ = std::string(data);
        Request req;
        size_t i = 0;
        while (i < line_.size()) {
            size_t end = line_.find(' ', i);
            if (end == std::string::npos)
                end = line_.size();
            if (end > i)
                req.tokens.push_back(std::string_view(line_).substr(i, end - i));
            i = end + 1;
        }
        req.has_data = handler == meta_set;
        req.data = data_;
        req.too_large = too_large;
        std::string out;
        handler(req, session, ctx, out);
        return out;
    }
    uint64_t cas(std::string_view key) const
    {
        auto e = db.store().peek(key);
        return e ? e->version : 0;
    }
    std::string c(std::string_view key) const { return std::to_string(cas(key)); }
    int64_t now() const { return clock.now_ms(); }

    kv::ManualClock clock;
    kv::Database db;
    kv::Stats stats;
    kv::Limits limits;
    NoHost host;
    Session session;
    Context ctx{db, stats, limits, host, clock};

private:
    std::string line_;
    std::string data_;
};

}  // namespace

// The reply first, then the expected bytes (which may read the cas the
// command just made: == does not order its operands).
#define CHECK_REPLY(call, expected)                                                                                    \
    do {                                                                                                               \
        std::string reply_ = (call);                                                                                   \
        CHECK(reply_ == (expected));                                                                                   \
    } while (0)

TEST_CASE_METHOD(Fixture, "mn answers MN", "[memcache][meta]")
{
    CHECK(run(meta_noop, "mn") == "MN\r\n");
    CHECK(run(meta_noop, "mn x y") == "MN\r\n");
}

TEST_CASE_METHOD(Fixture, "mg: misses, hits, and the flags that show the item", "[memcache][meta]")
{
    CHECK(run(meta_get, "mg") == "ERROR\r\n");
    CHECK(run(meta_get, "mg foo") == "EN\r\n");
    CHECK(run(meta_get, "mg foo v") == "EN\r\n");
    CHECK(run(meta_get, "mg foo q").empty());
    CHECK(run(meta_get, "mg foo k O123 q").empty());
    CHECK(run(meta_get, "mg foo k O123 v") == "EN kfoo O123\r\n");
    CHECK(run(meta_set, "ms foo 3", "abc") == "HD\r\n");
    CHECK(run(meta_get, "mg foo") == "HD\r\n");
    CHECK(run(meta_get, "mg foo q") == "HD\r\n");  // 1.6.18's q hides misses only
    CHECK(run(meta_get, "mg foo v q") == "VA 3\r\nabc\r\n");
    CHECK_REPLY(run(meta_get, "mg foo s v c t k Oabc"), "VA 3 s3 c" + c("foo") + " t-1 kfoo Oabc\r\nabc\r\n");
    CHECK(run(meta_get, "mg foo u v") == "VA 3\r\nabc\r\n");
    CHECK(run(meta_get, "mg foo Pxyz Lxx v") == "VA 3\r\nabc\r\n");
    CHECK(stats.memcache.cmd_get == 11);
    CHECK(stats.memcache.get_hits == 6);
    CHECK(stats.memcache.get_misses == 5);
    CHECK(stats.hits == 6);
    CHECK(stats.misses == 5);
}

TEST_CASE_METHOD(Fixture, "mg: bad lines, as memcached refuses them", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms foo 3", "abc") == "HD\r\n");
    CHECK(run(meta_get, "mg foo Z") == "CLIENT_ERROR invalid flag\r\n");
    CHECK(run(meta_get, "mg foo E5") == "CLIENT_ERROR invalid flag\r\n");  // E came after 1.6.18
    CHECK(run(meta_get, "mg foo v v") == "CLIENT_ERROR duplicate flag\r\n");
    CHECK(run(meta_get, "mg foo s s") == "CLIENT_ERROR duplicate flag\r\n");
    CHECK(run(meta_get, "mg foo \x80") == "CLIENT_ERROR duplicate flag\r\n");
    CHECK(run(meta_get, "mg foo Tabc") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_get, "mg foo T") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_get, "mg foo N") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_get, "mg foo R") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_get, "mg foo O12345678901234567890123456789012 v") == "CLIENT_ERROR opaque token too long\r\n");
    CHECK(run(meta_get, "mg nokey O12345678901234567890123456789012 q") == "CLIENT_ERROR opaque token too long\r\n");
    CHECK(run(meta_get, "mg foo O1234567890123456789012345678901 v")
          == "VA 3 O1234567890123456789012345678901\r\nabc\r\n");
    CHECK(run(meta_get, "mg foo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17") == "CLIENT_ERROR invalid flag\r\n");
    CHECK(run(meta_get, "mg foo a b c d e f g h i j k l m n o p q r") == "CLIENT_ERROR options flags are too long\r\n");
    std::string k250(250, 'k');
    CHECK(run(meta_get, "mg " + k250 + "k v") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_get, "mg " + k250 + " v") == "EN\r\n");
    // kvstore keeps no hit/last-access history: memcached's answer to a flag
    // it does not implement (docs/memcache.md).
    CHECK(run(meta_get, "mg foo h") == "CLIENT_ERROR invalid flag\r\n");
    CHECK(run(meta_get, "mg foo v l") == "CLIENT_ERROR invalid flag\r\n");
}

TEST_CASE_METHOD(Fixture, "mg: base64 keys", "[memcache][meta]")
{
    CHECK_REPLY(run(meta_set, "ms YmluAGtleQ== 2 b k c", "hi"),
                "HD kYmluAGtleQ== b c" + c(std::string("bin\0key", 7)) + "\r\n");
    CHECK(run(meta_get, "mg YmluAGtleQ== b v k") == "VA 2 kYmluAGtleQ== b\r\nhi\r\n");
    CHECK(run(meta_get, "mg YmluAGtleQ== v k b") == "VA 2 kYmluAGtleQ== b\r\nhi\r\n");
    CHECK(run(meta_get, "mg Zm9 b v") == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_get, "mg Zm9v= b v") == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_get, "mg !!!! b v") == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_get, "mg Zm9vYg b v") == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_get, "mg Zm9vYg== b k") == "EN kZm9vYg== b\r\n");
    CHECK(run(meta_get, "mg Zm9vYg== k b") == "EN kZm9vYg== b\r\n");
    // A key no reply line can carry is shown in base64 (kvstore has no
    // binary mark; memcached shows keys stored with b so).
    CHECK(run(meta_set, "ms IGEgYg== 1 b", "x") == "HD\r\n");
    CHECK(run(meta_get, "mg IGEgYg== b k v") == "VA 1 kIGEgYg== b\r\nx\r\n");
    kv::Store::PutResult result;
    db.put("a b", "y", kv::kNoDeadline, result);  // as another door may write it
    CHECK(run(meta_get, "mg YSBi b k s") == "HD kYSBi b s1\r\n");
    db.put("a\rb", "z", kv::kNoDeadline, result);
    CHECK(run(meta_get, "mg a\rb k v") == "VA 1 kYQ1i b\r\nz\r\n");
    CHECK_REPLY(run(meta_debug, "me YSBi b"), "ME YSBi exp=-1 cas=" + c("a b") + " size=1\r\n");
    // memcached's decoder skips bytes outside the alphabet.
    CHECK(run(meta_set, "ms foo 1", "x") == "HD\r\n");
    CHECK(run(meta_delete, "md Zm9v! b k") == "HD kZm9v b\r\n");
}

TEST_CASE_METHOD(Fixture, "mg: TTLs, T (touch) and t in line order", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms tk 2 T100", "hi") == "HD\r\n");
    CHECK(run(meta_get, "mg tk t v") == "VA 2 t100\r\nhi\r\n");
    CHECK(run(meta_get, "mg tk T200 t") == "HD t200\r\n");
    clock.advance(1000);
    CHECK(run(meta_get, "mg tk t T300") == "HD t199\r\n");
    CHECK(run(meta_get, "mg tk t") == "HD t300\r\n");
    CHECK(run(meta_get, "mg tk T0 t") == "HD t-1\r\n");
    CHECK(run(meta_get, "mg tk T2592000 t") == "HD t2592000\r\n");
    // An absolute unix time.
    int64_t at = now() / 1000 + 5000;
    CHECK(run(meta_get, "mg tk T" + std::to_string(at) + " t") == "HD t5000\r\n");
    // A touch keeps the cas unique, as in memcached.
    std::string cas = c("tk");
    std::string line = run(meta_get, "mg tk c T10");
    CHECK(line == "HD c" + cas + "\r\n");
    CHECK(c("tk") == cas);
    CHECK(stats.memcache.cmd_touch == 6);
    CHECK(stats.memcache.touch_hits == 6);
    // A negative T expires the item at once; the hit is still answered.
    CHECK(run(meta_get, "mg tk T-1 v") == "VA 2\r\nhi\r\n");
    CHECK(run(meta_get, "mg tk t") == "EN\r\n");
    CHECK(run(meta_get, "mg tk T30") == "EN\r\n");  // a touch miss counts as a get miss
    CHECK(stats.memcache.get_misses == 2);
    // Expiry by the clock.
    CHECK(run(meta_set, "ms tk 2 T10", "hi") == "HD\r\n");
    clock.advance(9500);
    CHECK(run(meta_get, "mg tk t") == "HD t1\r\n");
    clock.advance(500);
    CHECK(run(meta_get, "mg tk t") == "EN\r\n");
}

TEST_CASE_METHOD(Fixture, "mg: N vivifies a miss, R never wins", "[memcache][meta]")
{
    CHECK_REPLY(run(meta_get, "mg viv N30 v c t s k"), "VA 0 c" + c("viv") + " t30 s0 kviv W\r\n\r\n");
    // kvstore has no token-sent mark: later fetches see the stub without Z.
    CHECK(run(meta_get, "mg viv v t") == "VA 0 t30\r\n\r\n");
    CHECK(run(meta_get, "mg viv2 N30 q v") == "VA 0 W\r\n\r\n");
    CHECK(run(meta_get, "mg viv3 N0 t") == "HD t-1 W\r\n");
    CHECK(run(meta_get, "mg viv5 T30 N40 t") == "HD t40 W\r\n");
    CHECK(run(meta_get, "mg viv5 t") == "HD t40\r\n");
    CHECK(run(meta_set, "ms r 1 T10", "x") == "HD\r\n");
    CHECK(run(meta_get, "mg r R30 t v") == "VA 1 t10\r\nx\r\n");
}

TEST_CASE("mg: N on a full store is a miss", "[memcache][meta]")
{
    Fixture small(1);
    CHECK(small.run(meta_set, "ms a 1", "x") == "HD\r\n");
    CHECK(small.run(meta_get, "mg b N30 v") == "EN\r\n");
    CHECK(small.stats.memcache.store_no_memory == 1);
}

TEST_CASE_METHOD(Fixture, "ms: modes, cas, q, and the reply's flags", "[memcache][meta]")
{
    CHECK_REPLY(run(meta_set, "ms k 2 T0 c k O9", "ab"), "HD c" + c("k") + " kk O9\r\n");
    CHECK(run(meta_set, "ms k 2 ME", "ab") == "NS\r\n");
    CHECK(run(meta_set, "ms k 2 MA", "cd") == "HD\r\n");
    CHECK(run(meta_get, "mg k v") == "VA 4\r\nabcd\r\n");
    CHECK(run(meta_set, "ms k 2 MP", "zz") == "HD\r\n");
    CHECK(run(meta_get, "mg k v") == "VA 6\r\nzzabcd\r\n");
    CHECK(run(meta_set, "ms nk 2 MA", "cd") == "NS\r\n");
    CHECK(run(meta_set, "ms nk 2 MP", "cd") == "NS\r\n");
    CHECK(run(meta_set, "ms nk 2 MR", "cd") == "NS\r\n");
    CHECK(run(meta_set, "ms nk 2 ME q", "cd").empty());
    CHECK(run(meta_set, "ms nk 2 ME q", "cd") == "NS\r\n");
    CHECK(run(meta_set, "ms nk 2 MS q", "cd").empty());
    CHECK(run(meta_set, "ms k 2 I", "ab") == "HD\r\n");  // I without C: ignored
    CHECK(run(meta_set, "ms k 2 v s t f u", "ab") == "HD\r\n");  // known flags, no meaning here
    CHECK(run(meta_set, "ms e 0", "") == "HD\r\n");
    CHECK(run(meta_get, "mg e v s") == "VA 0 s0\r\n\r\n");
    // cas: C makes set and replace a cas; add ignores it; append checks it.
    CHECK_REPLY(run(meta_set, "ms s 2 c", "ab"), "HD c" + c("s") + "\r\n");
    CHECK_REPLY(run(meta_set, "ms s 2 C" + c("s") + " c", "xy"), "HD c" + c("s") + "\r\n");
    CHECK_REPLY(run(meta_set, "ms s 2 C" + c("s") + " c MA", "zz"), "HD c" + c("s") + "\r\n");
    CHECK(run(meta_get, "mg s v") == "VA 4\r\nxyzz\r\n");
    CHECK_REPLY(run(meta_set, "ms s 2 C" + c("s") + " MR c k", "qq"), "HD c" + c("s") + " ks\r\n");
    CHECK_REPLY(run(meta_set, "ms s 2 C" + c("s") + " ME c", "qq"), "NS c0\r\n");
    CHECK(run(meta_set, "ms s 2 C1 c", "xy") == "EX c0\r\n");
    CHECK(run(meta_set, "ms s 2 C1 c q", "xy") == "EX c0\r\n");
    CHECK(run(meta_set, "ms s 2 C1 MA", "xy") == "EX\r\n");
    // C0 is no cas check for an append or prepend (memcached's do_store_item).
    CHECK(run(meta_set, "ms s 1 C0 MA", "a") == "HD\r\n");
    CHECK(run(meta_set, "ms s 1 C0 MP", "p") == "HD\r\n");
    CHECK(run(meta_get, "mg s v") == "VA 4\r\npqqa\r\n");
    CHECK(run(meta_set, "ms s 2 C1 MR c k", "xy") == "EX c0 ks\r\n");
    CHECK(run(meta_set, "ms nk2 2 C15 c", "xy") == "NF c0\r\n");
    CHECK(run(meta_set, "ms nk2 2 C15 MA", "xy") == "NS\r\n");
    CHECK(run(meta_set, "ms nk2 2 C15 ME", "xy") == "HD\r\n");
    // memcached 1.6.18 stores a lower cas with I as a stale item; kvstore
    // has no stale mark and answers EX (docs/memcache.md).
    CHECK(run(meta_set, "ms s 2 C1 I c", "st") == "EX c0\r\n");
    CHECK(stats.memcache.cas_badval == 4);  // append and prepend count none
    CHECK(stats.memcache.cas_misses == 1);
    CHECK(stats.memcache.cas_hits == 2);
}

TEST_CASE_METHOD(Fixture, "ms: TTLs, a negative one stores nothing that lasts", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms k 1 T100", "x") == "HD\r\n");
    CHECK(run(meta_get, "mg k t") == "HD t100\r\n");
    CHECK(run(meta_set, "ms k 1 T-1 k", "x") == "HD kk\r\n");
    CHECK(run(meta_get, "mg k v") == "EN\r\n");
    CHECK(run(meta_set, "ms k 1 T-1 ME", "x") == "HD\r\n");
    CHECK(run(meta_set, "ms k 1 T-1 ME", "x") == "HD\r\n");
    // c shows the cas the write gave the item, though it expired at once
    // (memcached shows it too), never 0.
    std::string reply = run(meta_set, "ms k 1 T-1 c", "x");
    CHECK(reply == "HD c" + std::to_string(db.store().last_version()) + "\r\n");
    CHECK(reply != "HD c0\r\n");
    // append keeps the item's TTL, whatever T says.
    CHECK(run(meta_set, "ms k 1", "x") == "HD\r\n");
    CHECK(run(meta_set, "ms k 1 T-1 MA", "x") == "HD\r\n");
    CHECK(run(meta_get, "mg k v t") == "VA 2 t-1\r\nxx\r\n");
}

TEST_CASE_METHOD(Fixture, "ms: bad lines", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms") == "ERROR\r\n");
    CHECK(run(meta_set, "ms k") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k x") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k -1") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms " + std::string(251, 'k') + " 2", "ab") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k 2 Fx", "ab") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k 2 F-1", "ab") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k 2 F18446744073709551616", "ab") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms k 2 MX", "ab") == "CLIENT_ERROR invalid mode for ms M token\r\n");
    CHECK(run(meta_set, "ms k 2 Me", "ab") == "CLIENT_ERROR invalid mode for ms M token\r\n");
    CHECK(run(meta_set, "ms k 2 MEE", "ab") == "CLIENT_ERROR incorrect length for M token\r\n");
    CHECK(run(meta_set, "ms k 2 S2", "ab") == "CLIENT_ERROR invalid flag\r\n");
    CHECK(run(meta_set, "ms k 2 Cx", "ab") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_set, "ms k 2 C", "ab") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_set, "ms k 2 C-1", "ab") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_set, "ms k 2 T", "ab") == "CLIENT_ERROR bad token in command line format\r\n");
    CHECK(run(meta_set, "ms k 2 b", "ab") == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_set, "ms k 2 O12345678901234567890123456789012", "ab") == "CLIENT_ERROR opaque token too long\r\n");
    CHECK(run(meta_set, "ms k 2 O12345678901234567890123456789012 MX", "ab")
          == "CLIENT_ERROR invalid mode for ms M token\r\n");
    CHECK(run(meta_set, "ms k 2 a b c d e f g h i j k l m n o p q", "ab") == "CLIENT_ERROR options flags too long\r\n");
    CHECK(stats.memcache.cmd_set == 0);
}

TEST_CASE_METHOD(Fixture, "ms: too large drops the old value, whatever the mode", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms big 1", "x") == "HD\r\n");
    CHECK(run(meta_set, "ms big 2000000 ME q", "", true) == "SERVER_ERROR object too large for cache\r\n");
    CHECK(run(meta_get, "mg big v") == "EN\r\n");
    CHECK(run(meta_set, "ms big 1", "x") == "HD\r\n");
    // A bad flag is answered first, and nothing changes.
    CHECK(run(meta_set, "ms big 2000000 b k O1", "", true) == "CLIENT_ERROR error decoding key\r\n");
    CHECK(run(meta_get, "mg big v") == "VA 1\r\nx\r\n");
    // An append past the value limit (64 bytes here): memcached cannot make
    // the longer item and answers NS.
    CHECK(run(meta_set, "ms big 64 MA", std::string(64, 'a')) == "NS\r\n");
    CHECK(run(meta_get, "mg big v") == "VA 1\r\nx\r\n");
    CHECK(stats.memcache.store_too_large == 1);
}

TEST_CASE("ms: a full store", "[memcache][meta]")
{
    Fixture small(1);
    CHECK(small.run(meta_set, "ms a 1", "x") == "HD\r\n");
    CHECK(small.run(meta_set, "ms b 1", "x") == "SERVER_ERROR out of memory storing object\r\n");
    CHECK(small.run(meta_set, "ms a 1 q", "y") == "");
    CHECK(small.stats.memcache.store_no_memory == 1);
}

TEST_CASE_METHOD(Fixture, "ms and mg: client flags", "[memcache][meta][flags]")
{
    // Needs the store's flags (helper F's branch): fails on the base's stub.
    CHECK(run(meta_set, "ms k 2 F5", "ab") == "HD\r\n");
    CHECK(run(meta_get, "mg k f v") == "VA 2 f5\r\nab\r\n");
    CHECK(run(meta_set, "ms k 2 F4294967296", "ab") == "HD\r\n");  // memcached keeps 32 bits
    CHECK(run(meta_get, "mg k f") == "HD f0\r\n");
    CHECK(run(meta_set, "ms k 2 F4294967297", "ab") == "HD\r\n");
    CHECK(run(meta_get, "mg k f") == "HD f1\r\n");
    CHECK(run(meta_set, "ms k 2 F18446744073709551615", "ab") == "HD\r\n");
    CHECK(run(meta_get, "mg k f") == "HD f4294967295\r\n");
    CHECK(run(meta_set, "ms k 2 MA F7", "cd") == "HD\r\n");  // append keeps the flags
    CHECK(run(meta_get, "mg k v f") == "VA 4 f4294967295\r\nabcd\r\n");
    CHECK(run(meta_set, "ms k 2 F+5", "ab") == "HD\r\n");
    CHECK(run(meta_get, "mg k f") == "HD f5\r\n");
    CHECK(run(meta_arithmetic, "ma n N0 J1") == "HD\r\n");
    CHECK(run(meta_get, "mg n f") == "HD f0\r\n");
    CHECK(run(meta_set, "ms n 1 F9", "1") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma n") == "HD\r\n");  // incr keeps the flags
    CHECK(run(meta_get, "mg n f v") == "VA 1 f9\r\n2\r\n");
}

TEST_CASE_METHOD(Fixture, "md: delete, cas, invalidate, q", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms d 1", "a") == "HD\r\n");
    CHECK(run(meta_delete, "md d k O5 c") == "HD kd O5\r\n");
    CHECK(run(meta_delete, "md d") == "NF\r\n");
    CHECK(run(meta_delete, "md d q") == "NF\r\n");
    CHECK(run(meta_delete, "md d q k") == "NF kd\r\n");
    CHECK(run(meta_set, "ms d 1", "a") == "HD\r\n");
    CHECK(run(meta_delete, "md d C1 k") == "EX kd\r\n");
    CHECK(run(meta_delete, "md d C" + c("d") + " q").empty());
    CHECK(run(meta_get, "mg d") == "EN\r\n");
    CHECK(run(meta_delete, "md") == "ERROR\r\n");
    CHECK(run(meta_delete, "md d Zz") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_delete, "md d Tx") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_delete, "md d k k") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_delete, "md d x") == "CLIENT_ERROR invalid or duplicate flag\r\n");  // x came after 1.6.18
    CHECK(run(meta_delete, "md d O123456789012345678901234567890123") == "CLIENT_ERROR opaque token too long\r\n");
    CHECK(run(meta_delete, "md " + std::string(251, 'k')) == "CLIENT_ERROR bad command line format\r\n");
    // I keeps the item with a new cas and T's TTL (no stale mark: no X, W).
    CHECK(run(meta_set, "ms d 1 T100", "a") == "HD\r\n");
    uint64_t before = cas("d");
    CHECK(run(meta_delete, "md d I T30 k") == "HD kd\r\n");
    CHECK(cas("d") > before);
    CHECK(run(meta_get, "mg d t v") == "VA 1 t30\r\na\r\n");
    CHECK(run(meta_delete, "md d I q").empty());
    CHECK(run(meta_delete, "md d T30 q").empty());
    CHECK(run(meta_get, "mg d") == "EN\r\n");
    CHECK(stats.memcache.delete_hits == 3);
    CHECK(stats.memcache.delete_misses == 4);
}

TEST_CASE_METHOD(Fixture, "ma: incr, decr, modes, vivify", "[memcache][meta]")
{
    CHECK(run(meta_arithmetic, "ma n") == "NF\r\n");
    CHECK(run(meta_arithmetic, "ma n q") == "NF\r\n");
    CHECK(run(meta_arithmetic, "ma n N0 v") == "VA 1\r\n0\r\n");
    CHECK(run(meta_arithmetic, "ma n v") == "VA 1\r\n1\r\n");
    CHECK_REPLY(run(meta_arithmetic, "ma n v D10 t c k O1"), "VA 2 t-1 c" + c("n") + " kn O1\r\n11\r\n");
    CHECK(run(meta_arithmetic, "ma n MD D3 v") == "VA 1\r\n8\r\n");
    CHECK(run(meta_get, "mg n v") == "VA 2\r\n8 \r\n");  // decr pads in place
    CHECK(run(meta_arithmetic, "ma n M- D100 v") == "VA 1\r\n0\r\n");
    CHECK(run(meta_arithmetic, "ma n M+ v") == "VA 1\r\n1\r\n");
    CHECK(run(meta_arithmetic, "ma n MI v q").empty());
    CHECK(run(meta_arithmetic, "ma n q").empty());
    CHECK(run(meta_arithmetic, "ma n Mi") == "CLIENT_ERROR invalid mode for ma M token\r\n");
    CHECK(run(meta_arithmetic, "ma n MII") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_arithmetic, "ma n Dx") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_arithmetic, "ma n D-1") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_arithmetic, "ma n Jx") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_arithmetic, "ma nn x") == "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK(run(meta_arithmetic, "ma") == "ERROR\r\n");
    CHECK(run(meta_arithmetic, "ma j N0 J42 v t") == "VA 2 t-1\r\n42\r\n");
    CHECK(run(meta_arithmetic, "ma j2 J42 v") == "NF\r\n");
    CHECK(run(meta_arithmetic, "ma j3 N100 J42 v t T50") == "VA 2 t100\r\n42\r\n");
    CHECK(run(meta_get, "mg j3 t") == "HD t50\r\n");
    CHECK(run(meta_arithmetic, "ma j3 T0 t v") == "VA 2 t-1\r\n43\r\n");
    // q hides success, but not the reply of an item just made.
    CHECK(run(meta_arithmetic, "ma newv N0 q") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma newv q").empty());
    CHECK(run(meta_arithmetic, "ma newv2 N0 q v") == "VA 1\r\n0\r\n");
    CHECK(stats.memcache.incr_misses == 3);
    CHECK(stats.memcache.decr_hits == 2);
}

TEST_CASE_METHOD(Fixture, "ma: values memcached reads as numbers, cas", "[memcache][meta]")
{
    CHECK(run(meta_set, "ms a 2", "10") == "HD\r\n");
    CHECK_REPLY(run(meta_arithmetic, "ma a MD v c"), "VA 1 c" + c("a") + "\r\n9\r\n");
    CHECK(run(meta_arithmetic, "ma a C1 v") == "EX\r\n");
    CHECK(run(meta_arithmetic, "ma a C1 v c k") == "EX ka\r\n");
    CHECK(run(meta_arithmetic, "ma a C0 v") == "VA 2\r\n10\r\n");  // C0: no check
    CHECK_REPLY(run(meta_arithmetic, "ma a C" + c("a") + " v"), "VA 2\r\n11\r\n");
    const std::string kNonNumeric = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    CHECK(run(meta_set, "ms e 0", "") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e C1") == kNonNumeric);  // before the cas
    CHECK(run(meta_set, "ms e 3", " 12") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == "VA 2\r\n13\r\n");
    CHECK(run(meta_set, "ms e 3", "+12") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == "VA 2\r\n13\r\n");
    CHECK(run(meta_set, "ms e 3", "-12") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == kNonNumeric);
    CHECK(run(meta_arithmetic, "ma e q") == kNonNumeric);
    CHECK(run(meta_set, "ms e 20", "18446744073709551615") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == "VA 1\r\n0\r\n");  // incr wraps
    CHECK(run(meta_get, "mg e v") == "VA 20\r\n0                   \r\n");
    CHECK(run(meta_set, "ms e 20", "18446744073709551616") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == kNonNumeric);
    CHECK(run(meta_set, "ms e 3", "12a") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == kNonNumeric);
    CHECK(run(meta_set, "ms e 4", "12 a") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == "VA 2\r\n13\r\n");
    CHECK(run(meta_set, "ms e 3", "12\t") == "HD\r\n");
    CHECK(run(meta_arithmetic, "ma e v") == "VA 2\r\n13\r\n");
    CHECK(run(meta_arithmetic, "ma e v D18446744073709551616") == "CLIENT_ERROR invalid or duplicate flag\r\n");
}

TEST_CASE_METHOD(Fixture, "me: what kvstore knows of an item", "[memcache][meta]")
{
    CHECK(run(meta_debug, "me") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_debug, "me nokey") == "EN\r\n");
    CHECK(run(meta_debug, "me " + std::string(251, 'k')) == "CLIENT_ERROR bad command line format\r\n");
    CHECK(run(meta_set, "ms tk 2 T100", "hi") == "HD\r\n");
    CHECK_REPLY(run(meta_debug, "me tk"), "ME tk exp=-100 cas=" + c("tk") + " size=2\r\n");
    CHECK(run(meta_set, "ms foo 3", "abc") == "HD\r\n");
    CHECK_REPLY(run(meta_debug, "me foo"), "ME foo exp=-1 cas=" + c("foo") + " size=3\r\n");
    CHECK_REPLY(run(meta_debug, "me Zm9v b"), "ME Zm9v exp=-1 cas=" + c("foo") + " size=3\r\n");
    CHECK_REPLY(run(meta_debug, "me Zm9v b x"), "ME Zm9v exp=-1 cas=" + c("foo") + " size=3\r\n");
    CHECK(run(meta_debug, "me Zm9v x") == "EN\r\n");
    CHECK(run(meta_debug, "me !!! b") == "CLIENT_ERROR bad command line format\r\n");
    CHECK(stats.memcache.meta_cmds == 6);  // memcached 1.6.18 counts me only
}

TEST_CASE("ma: N on a full store", "[memcache][meta]")
{
    Fixture small(1);
    CHECK(small.run(meta_set, "ms a 1", "1") == "HD\r\n");
    CHECK(small.run(meta_arithmetic, "ma b N0 J5 v") == "SERVER_ERROR Out of memory allocating new item\r\n");
    CHECK(small.run(meta_arithmetic, "ma a v") == "VA 1\r\n2\r\n");  // an existing key always changes
    CHECK(small.stats.memcache.store_no_memory == 1);
}
