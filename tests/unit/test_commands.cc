// Unit tests for kvstored's request execution (kvstored/commands.h): the reply
// text for each operation, and that bad requests from a peer get ERR replies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "command.h"
#include "commands.h"
#include "dump_format.h"

using kv::wire::Op;
using kv::wire::Request;
using namespace std::string_literals;

namespace {

struct Fixture {
    kv::Database db{3, std::nullopt};
    const kv::Store& store = db.store();
    kv::Stats stats;
    kv::Limits limits{8};

    // The reply; for a listing, every page of it.
    std::string run(Op op, std::string_view key = {}, std::string_view value = {})
    {
        std::string out;
        std::optional<kv::Listing> listing;
        CHECK(kv::execute(Request{op, key, value}, db, stats, limits, out, listing) == 0);  // nothing to persist
        while (listing && listing->next_page(store, out)) { }
        return out;
    }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "each operation's reply", "[commands]")
{
    CHECK(run(Op::Read, "a") == "NOT_FOUND\n");
    CHECK(run(Op::Save, "a", "one two") == "OK\n");
    CHECK(run(Op::Read, "a") == "VALUE one two\n");
    CHECK(run(Op::Exists, "a") == "YES\n");
    CHECK(run(Op::Exists, "b") == "NO\n");
    CHECK(run(Op::Save, "b", "") == "OK\n");
    CHECK(run(Op::Read, "b") == "VALUE \n");
    CHECK(run(Op::Count) == "COUNT 2 3\n");
    CHECK(run(Op::Keys) == "KEYS 2\na\nb\n");
    CHECK(run(Op::Keys, "b") == "KEYS 1\nb\n");
    CHECK(run(Op::Delete, "a") == "OK\n");
    CHECK(run(Op::Delete, "a") == "NOT_FOUND\n");
    // sync is a strong read with etcd; in memory it has nothing to wait for.
    CHECK(run(Op::Sync) == "OK synced 0\n");
}

TEST_CASE_METHOD(Fixture, "a full store answers ERR full with the counts", "[commands]")
{
    run(Op::Save, "a", "1");
    run(Op::Save, "b", "1");
    run(Op::Save, "c", "1");
    CHECK(run(Op::Save, "d", "1") == "ERR full 3/3 entries\n");
    CHECK(run(Op::Save, "a", "2") == "OK\n");
    CHECK(stats.full_rejections == 1);
}

TEST_CASE_METHOD(Fixture, "stats counts hits and misses and lists its names", "[commands]")
{
    run(Op::Save, "a", "1");
    run(Op::Read, "a");
    run(Op::Read, "zz");
    run(Op::Exists, "a");
    CHECK(stats.hits == 2);
    CHECK(stats.misses == 1);
    std::string out = run(Op::Stats);
    CHECK(out.rfind("STATS 63\n", 0) == 0);  // 37, and 26 rows of the doors' own counters
    for (const char* row : {"\nentries 1\n", "\ncapacity 3\n", "\nhits 2\n", "\nmisses 1\n", "\nsaves 1\n",
                            "\npersistence memory\n", "\nstorage_failed 0\n", "\nbackend memory\n", "\nread_only 0\n",
                            "\nread_only_why -\n", "\nline_connections_total 0\n", "\nmemcache_cmd_meta 0\n"})
        CHECK(out.find(row) != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "requests a real kvsvc would never send are answered with errors", "[commands]")
{
    CHECK(run(Op::Save, "", "v") == "ERR bad-key key is empty\n");
    CHECK(run(Op::Read, std::string(251, 'k')) == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(run(Op::Save, "k", "123456789") == "ERR too-long value is 9 bytes; the limit is 8\n");
    CHECK(run(Op::Keys, std::string(300, 'k')) == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(store.size() == 0);
}

TEST_CASE_METHOD(Fixture, "the wire takes any key and value the store holds (the admin CLI names them)",
                 "[commands][xdoor]")
{
    // kvsvc's parser holds a client's keys to the line protocol's rule; below
    // it the store's rule applies: 1 to 250 bytes of any value.
    CHECK(run(Op::Save, "a b", "v") == "OK\n");
    CHECK(run(Op::Read, "a b") == "VALUE v\n");
    CHECK(run(Op::Save, "x:\n\0"s, "1\n2") == "OK\n");  // as `kvstored set` may
    CHECK(run(Op::Exists, "x:\n\0"s) == "YES\n");
    CHECK(run(Op::Delete, "a b") == "OK\n");
    CHECK(run(Op::Keys) == "KEYS 0\n");  // "x:\n\0" cannot be shown
    CHECK(run(Op::Count) == "COUNT 1 3\n");
}

namespace {

// Key `i` of `width` bytes, zero-padded so that keys sort by number.
std::string numbered(size_t i, size_t width)
{
    std::string digits = std::to_string(i);
    return "k" + std::string(width - 1 - digits.size(), '0') + digits;
}

void put(kv::Database& db, const std::string& key, std::string_view value)
{
    kv::Store::PutResult result;
    db.put(key, value, result);
    REQUIRE(result == kv::Store::PutResult::Inserted);
}

void erase(kv::Database& db, const std::string& key)
{
    bool erased;
    db.erase(key, erased);
}

struct Page {
    std::string header;
    std::vector<std::string> lines;
};

// Splits one page of listing text.
Page parse_page(const std::string& text)
{
    Page p;
    size_t pos = 0;
    for (size_t lf; (lf = text.find('\n', pos)) != std::string::npos; pos = lf + 1)
        (p.header.empty() ? p.header : p.lines.emplace_back()) = text.substr(pos, lf - pos);
    REQUIRE(pos == text.size());
    return p;
}

}  // namespace

TEST_CASE("keys is answered in pages of at most 1000 keys or 64 KiB, each key once, in order", "[commands][keys]")
{
    size_t width = GENERATE(8, 250);
    INFO("keys of " << width << " bytes");
    kv::Database db{5000, std::nullopt};
    for (size_t i = 0; i < 2500; ++i)
        put(db, numbered(i, width), "value");
    kv::Listing listing(kv::Listing::Kind::Keys, "k");
    std::vector<std::string> all;
    bool more = true;
    size_t pages = 0;
    while (more) {
        REQUIRE(++pages < 100);
        std::string text;
        more = listing.next_page(db.store(), text);
        Page p = parse_page(text);
        CHECK(p.header == "KEYS " + std::to_string(p.lines.size()) + (more ? " more" : ""));
        CHECK(p.lines.size() <= kv::Listing::kPageKeys);
        CHECK(text.size() <= kv::Listing::kPageBytes + 251 + 20);
        all.insert(all.end(), p.lines.begin(), p.lines.end());
    }
    REQUIRE(all.size() == 2500);
    for (size_t i = 0; i < all.size(); ++i)
        REQUIRE(all[i] == numbered(i, width));
    CHECK(pages >= (width == 8 ? 3u : 10u));
}

TEST_CASE("a listing lists the keys present throughout exactly once while others come and go", "[commands][keys]")
{
    kv::Database db{5000, std::nullopt};
    for (size_t i = 0; i < 3000; i += 2)
        put(db, numbered(i, 250), "");
    kv::Listing listing(kv::Listing::Kind::Keys, "");
    std::vector<std::string> all;
    std::string text;
    size_t step = 0;
    for (bool more = true; more; ++step) {
        REQUIRE(step < 100);
        text.clear();
        more = listing.next_page(db.store(), text);
        Page p = parse_page(text);
        all.insert(all.end(), p.lines.begin(), p.lines.end());
        // Between pages: odd keys come, and some of them go again.
        for (size_t i = 1; i < 3000; i += 2)
            if (i % 4 == step % 4) {
                kv::Store::PutResult result;
                db.put(numbered(i, 250), "", result);
            } else {
                erase(db, numbered(i, 250));
            }
    }
    CHECK(std::is_sorted(all.begin(), all.end()));
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    for (size_t i = 0; i < 3000; i += 2)
        REQUIRE(std::binary_search(all.begin(), all.end(), numbered(i, 250)));
}

TEST_CASE("a listing with nothing to list is one empty page, a prefix limits it", "[commands][keys]")
{
    kv::Database db{10, std::nullopt};
    std::string text;
    kv::Listing none(kv::Listing::Kind::Keys, "");
    CHECK_FALSE(none.next_page(db.store(), text));
    CHECK(text == "KEYS 0\n");
    put(db, "ab", "1");
    put(db, "b", "2");
    text.clear();
    kv::Listing some(kv::Listing::Kind::Dump, "a");
    CHECK_FALSE(some.next_page(db.store(), text));
    CHECK(text == "DUMP 1\nab\t1\t\n");  // a tsv dump line: "<key>\t<value>\t<deadline, empty: none>"
}

TEST_CASE("dump pages hold whole entries and stop adding them at 64 KiB", "[commands][dump]")
{
    kv::Database db{100, std::nullopt};
    const std::string value(30000, 'v');
    for (size_t i = 0; i < 10; ++i)
        put(db, numbered(i, 4), value);
    kv::Listing listing(kv::Listing::Kind::Dump, "");
    std::vector<size_t> sizes;
    for (bool more = true; more;) {
        REQUIRE(sizes.size() < 20);
        std::string text;
        more = listing.next_page(db.store(), text);
        Page p = parse_page(text);
        CHECK(p.header == "DUMP " + std::to_string(p.lines.size()) + (more ? " more" : ""));
        for (const auto& line : p.lines)
            CHECK(line.substr(4) == "\t" + value + "\t");
        sizes.push_back(p.lines.size());
    }
    // 30,007-byte lines: a page takes three (the third crosses 64 KiB).
    CHECK(sizes == std::vector<size_t>{3, 3, 3, 1});
}

// --- entries written through other doors (the Redis door): keys of any byte
// value, values with LF, CR, NUL; what the line protocol does with them -------

namespace {

// Every byte value but LF, in a value the line protocol shows as it is.
std::string every_byte_but_lf()
{
    std::string bytes;
    for (int b = 0; b < 256; ++b)
        if (b != '\n')
            bytes.push_back(static_cast<char>(b));
    return bytes;
}

struct Doors {
    kv::Database db{1000, std::nullopt};
    kv::Stats stats;
    kv::Limits limits{kv::kDefaultMaxValueBytes};

    std::string run(Op op, std::string_view key = {}, std::string_view value = {}, int64_t delta = 0)
    {
        std::string out;
        std::optional<kv::Listing> listing;
        Request req{op, key, value};
        if (op == Op::Incr || op == Op::Append)
            req.expiry = kv::wire::Expiry::Keep;
        if (op == Op::Expire) {
            req.expiry = kv::wire::Expiry::After;
            req.expiry_ms = 60'000;
        }
        req.delta = delta;
        kv::execute(req, db, stats, limits, out, listing);
        while (listing && listing->next_page(db.store(), out)) { }
        return out;
    }
    // As the Redis door stores: through the Database, any bytes.
    void put(std::string_view key, std::string_view value)
    {
        kv::Store::PutResult result;
        db.put(key, value, result);
        REQUIRE(result != kv::Store::PutResult::Full);
    }
};

const std::string kUnshowable = "ERR unshowable the value contains a line feed; read it through the Redis door\n";

}  // namespace

TEST_CASE_METHOD(Doors, "read, gets and take of a value with a LF answer ERR unshowable, take deletes nothing",
                 "[commands][xdoor]")
{
    std::string value = GENERATE("a\nb"s, "\n"s, "line\n"s, "\r\n"s, "\0\n\0"s, every_byte_but_lf() + "\n");
    INFO("value of " << value.size() << " bytes");
    put("k", value);
    CHECK(run(Op::Read, "k") == kUnshowable);
    CHECK(run(Op::Gets, "k") == kUnshowable);
    CHECK(run(Op::Take, "k") == kUnshowable);
    REQUIRE(db.store().get("k"));
    CHECK(db.store().get("k")->value == value);  // take deleted nothing
    CHECK(stats.hits == 3);  // the key was there
    CHECK(stats.misses == 0);
    CHECK(run(Op::Exists, "k") == "YES\n");
    CHECK(run(Op::Ttl, "k") == "TTL none\n");
    CHECK(run(Op::Expire, "k") == "OK\n");
    CHECK(run(Op::Ttl, "k") == "TTL 60\n");
    CHECK(run(Op::Persist, "k") == "OK\n");
    CHECK(run(Op::Incr, "k", {}, 1) == "ERR not-integer the value is not a signed 64-bit decimal integer\n");
    CHECK(run(Op::Decr, "k", {}, 1) == "ERR not-integer the value is not a signed 64-bit decimal integer\n");
    // append works; the value stays unshowable.
    CHECK(run(Op::Append, "k", "tail") == "OK\n");
    CHECK(db.store().get("k")->value == value + "tail");
    CHECK(run(Op::Read, "k") == kUnshowable);
    CHECK(run(Op::Keys) == "KEYS 1\nk\n");
    CHECK(run(Op::Count) == "COUNT 1 1000\n");
    // Overwriting makes it showable again; delete removes it.
    CHECK(run(Op::Save, "k", "plain") == "OK\n");
    CHECK(run(Op::Read, "k") == "VALUE plain\n");
    put("k", value);
    CHECK(run(Op::Delete, "k") == "OK\n");
    CHECK(run(Op::Read, "k") == "NOT_FOUND\n");
}

TEST_CASE_METHOD(Doors, "values with CR, NUL and every other byte but LF are shown as they are", "[commands][xdoor]")
{
    for (const std::string& value : {"\r"s, "a\r"s, "\rb"s, "\0"s, ""s, every_byte_but_lf(), "\r\r"s}) {
        INFO("value of " << value.size() << " bytes");
        put("k", value);
        CHECK(run(Op::Read, "k") == "VALUE " + value + "\n");
        std::string gets = run(Op::Gets, "k");
        CHECK(gets.ends_with(" " + value + "\n"));
        CHECK(run(Op::Take, "k") == "VALUE " + value + "\n");
        CHECK_FALSE(db.store().contains("k"));
    }
}

TEST_CASE_METHOD(Doors, "keys lists only the keys the line protocol can name and counts only those",
                 "[commands][xdoor][keys]")
{
    // "k" and every byte value after it: 256 keys, of which the line protocol
    // can name those without a space, ':' or control byte.
    std::vector<std::string> nameable;
    for (int b = 0; b < 256; ++b) {
        std::string key = "k"s + static_cast<char>(b);
        put(key, "v");
        if (kv::key_problem(key).empty())
            nameable.push_back(key);
    }
    for (const std::string& key : {"\n"s, " "s, ":"s, "\0"s, std::string(250, '\n'), "two words"s, "a\r"s})
        put(key, "v");
    REQUIRE(nameable.size() == 256 - 32 - 1 - 1 - 1);  // control bytes, 0x7f, space, ':'
    std::sort(nameable.begin(), nameable.end());
    std::string expected = "KEYS " + std::to_string(nameable.size()) + "\n";
    for (const auto& key : nameable)
        expected += key + "\n";
    CHECK(run(Op::Keys) == expected);
    CHECK(run(Op::Keys, "k") == expected);
    CHECK(run(Op::Keys, "two") == "KEYS 0\n");
    CHECK(run(Op::Count) == "COUNT " + std::to_string(256 + 7) + " 1000\n");
    std::string stats_text = run(Op::Stats);
    CHECK(stats_text.find("\nentries 263\n") != std::string::npos);
}

TEST_CASE("a listing where whole pages hold only keys it cannot show sends empty pages that say more",
          "[commands][xdoor][keys]")
{
    kv::Database db{5000, std::nullopt};
    for (size_t i = 0; i < 2500; ++i)
        put(db, "a " + numbered(i, 8), "v");  // a space: the line protocol cannot name them
    put(db, "b", "v");
    put(db, "0", "v");
    kv::Listing listing(kv::Listing::Kind::Keys, "");
    std::vector<std::string> all;
    std::vector<std::string> headers;
    for (bool more = true; more;) {
        REQUIRE(headers.size() < 20);
        std::string text;
        more = listing.next_page(db.store(), text);
        Page p = parse_page(text);
        CHECK(p.header == "KEYS " + std::to_string(p.lines.size()) + (more ? " more" : ""));
        headers.push_back(p.header);
        all.insert(all.end(), p.lines.begin(), p.lines.end());
    }
    CHECK(all == std::vector<std::string>{"0", "b"});
    CHECK(headers.size() == 3);  // 1000 keys looked at per page
    CHECK(headers[1] == "KEYS 0 more");
}

TEST_CASE("dump lines carry every byte of keys and values, and every entry", "[commands][xdoor][dump]")
{
    kv::Database db{1000, std::nullopt};
    std::map<std::string, std::string> entries;
    std::string all_bytes;
    for (int b = 0; b < 256; ++b)
        all_bytes.push_back(static_cast<char>(b));
    for (int b = 0; b < 256; ++b) {
        entries["k"s + static_cast<char>(b)] = all_bytes + static_cast<char>(b);
        entries[std::string(1, static_cast<char>(b))] = std::string(1, static_cast<char>(b));
    }
    entries[std::string(250, '\0')] = "";
    entries[std::string(250, '\xff')] = "\n\n";
    for (const auto& [key, value] : entries)
        put(db, key, value);
    kv::Store::PutResult result;
    db.put("deadline key", "x\ny", int64_t{4'102'444'800'000}, result);  // 2100-01-01
    kv::Listing listing(kv::Listing::Kind::Dump, "");
    std::map<std::string, std::pair<std::string, int64_t>> dumped;
    for (bool more = true; more;) {
        std::string text;
        more = listing.next_page(db.store(), text);
        Page p = parse_page(text);
        CHECK(p.header == "DUMP " + std::to_string(p.lines.size()) + (more ? " more" : ""));
        for (const auto& line : p.lines) {
            kv::dump::Entry e;
            REQUIRE(kv::dump::decode_line(kv::dump::Format::Tsv, kv::dump::kVersion, line, e) == "");
            REQUIRE(dumped.emplace(e.key, std::make_pair(e.value, e.deadline)).second);
        }
    }
    REQUIRE(dumped.size() == entries.size() + 1);
    for (const auto& [key, value] : entries) {
        INFO("key " << kv::printable_bytes(key));
        CHECK(dumped[key] == std::make_pair(value, int64_t{0}));
    }
    CHECK(dumped["deadline key"] == std::make_pair("x\ny"s, int64_t{4'102'444'800'000}));
}

// Issue 16: memcached's client flags (store.h). The line protocol's whole
// values (save, add, replace, cas) write 0; its changes in place (append,
// incr, decr) keep them, as memcached's do.
TEST_CASE_METHOD(Doors, "append incr decr keep memcached's flags, save add replace cas clear them", "[commands][flags]")
{
    const kv::Store& store = db.store();
    auto set_flags = [this](std::string_view key, std::string_view value, uint32_t flags) {
        kv::Store::PutResult r;
        db.put(key, value, kv::kNoDeadline, flags, r);
        REQUIRE(r != kv::Store::PutResult::Full);
    };
    set_flags("a", "x", 5);
    CHECK(run(Op::Append, "a", "y") == "OK\n");
    CHECK(store.peek("a")->flags == 5);
    set_flags("n", "1", 6);
    CHECK(run(Op::Incr, "n", {}, 2) == "VALUE 3\n");
    CHECK(run(Op::Decr, "n", {}, 1) == "VALUE 2\n");
    CHECK(store.peek("n")->flags == 6);
    CHECK(run(Op::Replace, "n", "v") == "OK\n");
    CHECK(store.peek("n")->flags == 0);
    set_flags("a", "x", 5);
    CHECK(run(Op::Save, "a", "z") == "OK\n");
    CHECK(store.peek("a")->flags == 0);
    CHECK(run(Op::Delete, "n") == "OK\n");
    CHECK(run(Op::Add, "n", "v") == "OK\n");  // a new key: 0
    CHECK(store.peek("n")->flags == 0);
    CHECK(run(Op::Incr, "m", {}, 1) == "VALUE 1\n");  // a new key: 0
    CHECK(store.peek("m")->flags == 0);
    set_flags("a", "x", 5);
    std::string out;
    std::optional<kv::Listing> listing;
    Request cas{Op::Cas, "a", "w"};
    cas.version = store.peek("a")->version;
    kv::execute(cas, db, stats, limits, out, listing);
    CHECK(out == "OK\n");
    CHECK(store.peek("a")->flags == 0);
}

TEST_CASE_METHOD(Doors, "a dump page carries memcached's flags when they are not 0", "[commands][dump][flags]")
{
    kv::Store::PutResult r;
    db.put("f", "v", kv::kNoDeadline, 123, r);
    db.put("g", "w", r);
    db.put("h", "x", int64_t{4'102'444'800'000}, 4'294'967'295, r);
    kv::Listing listing(kv::Listing::Kind::Dump, "");
    std::string text;
    CHECK_FALSE(listing.next_page(db.store(), text));
    CHECK(text == "DUMP 3\nf\tv\t\t123\ng\tw\t\nh\tx\t4102444800000\t4294967295\n");
}
