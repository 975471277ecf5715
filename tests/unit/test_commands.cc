// Unit tests for kvstored's request execution (kvstored/commands.h): the reply
// text for each operation, and that bad requests from a peer get ERR replies.
#include <catch2/catch.hpp>

#include <algorithm>

#include "commands.h"

using kv::wire::Op;
using kv::wire::Request;

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
    CHECK(out.rfind("STATS 34\n", 0) == 0);
    for (const char* row : {"\nentries 1\n", "\ncapacity 3\n", "\nhits 2\n", "\nmisses 1\n", "\nsaves 1\n",
                            "\npersistence memory\n", "\nstorage_failed 0\n"})
        CHECK(out.find(row) != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "requests a real kvsvc would never send are answered with errors", "[commands]")
{
    CHECK(run(Op::Save, "", "v") == "ERR bad-key key is empty\n");
    CHECK(run(Op::Read, "a b") == "ERR bad-key key contains a space\n");
    CHECK(run(Op::Save, "k", "123456789") == "ERR too-long value is 9 bytes; the limit is 8\n");
    CHECK(run(Op::Keys, std::string(300, 'k')) == "ERR bad-key key is longer than 250 bytes\n");
    CHECK(store.size() == 0);
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

TEST_CASE("a listing with nothing to list is one empty page; a prefix limits it", "[commands][keys]")
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
    CHECK(text == "DUMP 1\nab 0 1\n");  // "<key> <deadline, 0: none> <value>"
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
            CHECK(line.substr(4) == " 0 " + value);
        sizes.push_back(p.lines.size());
    }
    // 30,007-byte lines: a page takes three (the third crosses 64 KiB).
    CHECK(sizes == std::vector<size_t>{3, 3, 3, 1});
}
