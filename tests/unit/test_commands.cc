// Unit tests for kvstored's request execution (kvstored/commands.h): the reply
// text for each operation, and that bad requests from a peer get ERR replies.
#include <catch2/catch.hpp>

#include "commands.h"

using kv::wire::Op;
using kv::wire::Request;

namespace {

struct Fixture {
    kv::Database db{3, std::nullopt};
    const kv::Store& store = db.store();
    kv::Stats stats;
    kv::Limits limits{8};

    std::string run(Op op, std::string_view key = {}, std::string_view value = {})
    {
        std::string out;
        CHECK(kv::execute(Request{op, key, value}, db, stats, limits, out) == 0);  // nothing to persist
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
    CHECK(out.rfind("STATS 19\n", 0) == 0);
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
