// A model-based test of the store's semantics (issue 14): thousands of seeded
// random commands, each carried out by kvstored's own execute() on a
// Database persisted to SQLite and by a small reference model (a std::map
// with deadlines), with a fake clock that jumps ahead and restarts from the
// database in between. Every reply must be the one the model predicts.
//
// What the model cannot predict, it checks as a property: versions (a write,
// or a restart, gives an entry a version larger than every version seen
// before it; reads do not change it).
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <random>

#include "clock.h"
#include "commands.h"

using kv::wire::Expiry;
using kv::wire::Op;
using kv::wire::Request;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/kvstore-model-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

constexpr size_t kCapacity = 12;
constexpr size_t kMaxValue = 24;

struct ModelEntry {
    std::string value;
    int64_t deadline = 0;  // 0: none
    uint64_t version = 0;  // as last seen by gets; 0: unknown since the last write
    uint64_t floor = 0;  // the highest version seen before that write: the entry's is larger
};

class Model {
public:
    explicit Model(const kv::Clock& clock) : clock_(clock) { }

    // The live entry, dropping it when its deadline has passed.
    ModelEntry* find(const std::string& key)
    {
        auto it = entries_.find(key);
        if (it == entries_.end())
            return nullptr;
        if (it->second.deadline != 0 && it->second.deadline <= clock_.now_ms()) {
            entries_.erase(it);
            return nullptr;
        }
        return &it->second;
    }
    size_t live()
    {
        size_t n = 0;
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            n += it->second.deadline == 0 || it->second.deadline > clock_.now_ms();
        return n;
    }
    // "" when the write may go ahead, else the ERR full reply.
    std::string room_for(const std::string& key)
    {
        if (find(key) || live() < kCapacity)
            return "";
        return "ERR full " + std::to_string(kCapacity) + "/" + std::to_string(kCapacity) + " entries\n";
    }
    void write(const std::string& key, std::string value, int64_t deadline)
    {
        ModelEntry& e = entries_[key];
        e = ModelEntry{std::move(value), deadline, 0, highest_seen};
    }
    void erase(const std::string& key) { entries_.erase(key); }
    std::string keys_reply()
    {
        std::string lines;
        size_t n = 0;
        for (auto& [key, e] : entries_)
            if (e.deadline == 0 || e.deadline > clock_.now_ms()) {
                lines += key + "\n";
                ++n;
            }
        return "KEYS " + std::to_string(n) + "\n" + lines;
    }
    // A restart gives every entry a new version, larger than any before.
    void forget_versions()
    {
        for (auto& [key, e] : entries_)
            e = ModelEntry{e.value, e.deadline, 0, highest_seen};
    }

    uint64_t highest_seen = 0;  // the highest version any gets has shown

private:
    const kv::Clock& clock_;
    std::map<std::string, ModelEntry> entries_;
};

bool is_counter(const std::string& v, int64_t& n)
{
    if (v.empty() || v.size() > 20 || v == "-0" || v[0] == '+')
        return false;
    std::string digits = v[0] == '-' ? v.substr(1) : v;
    if (digits.empty() || (digits[0] == '0' && digits.size() > 1))
        return false;
    for (char c : digits)
        if (c < '0' || c > '9')
            return false;
    try {
        size_t used = 0;
        long long x = std::stoll(v, &used);
        n = x;
        return used == v.size();
    } catch (const std::exception&) {
        return false;
    }
}

struct Harness {
    kv::ManualClock clock;
    TempDir dir;
    std::optional<kv::Database> db;
    kv::Stats stats;
    kv::Limits limits{kMaxValue};
    Model model{clock};
    std::mt19937_64 rng;
    int restarts = 0;

    explicit Harness(uint64_t seed) : rng(seed) { open(); }

    void open()
    {
        kv::PersistConfig c;
        c.path = (dir.path / "store.db").string();
        c.mode = kv::SyncMode::Off;
        db.emplace(kCapacity, c, kv::WhenFull::Refuse, clock);
    }
    void restart()
    {
        db.reset();  // commits everything queued
        open();
        model.forget_versions();
        ++restarts;
    }
    std::string run(const Request& req)
    {
        std::string out;
        std::optional<kv::Listing> listing;
        kv::execute(req, *db, stats, limits, out, listing);
        while (listing && listing->next_page(db->store(), out)) { }
        return out;
    }

    int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }
    std::string key() { return "k" + std::to_string(pick(0, 2 * kCapacity)); }
    std::string value()
    {
        switch (pick(0, 3)) {
        case 0:
            return std::to_string(pick(-5, 5));
        case 1:
            return "";
        default:
            return std::string(static_cast<size_t>(pick(1, 10)), static_cast<char>('a' + pick(0, 25)));
        }
    }
    int64_t ttl_ms() { return pick(1, 4) * 1000; }
    int64_t deadline_in(int64_t ms) { return clock.now_ms() + ms; }

    // A gets: checks the version property and remembers it in the model.
    void check_gets(const std::string& k)
    {
        std::string got = run(Request{Op::Gets, k, {}});
        ModelEntry* e = model.find(k);
        if (!e) {
            CHECK(got == "NOT_FOUND\n");
            return;
        }
        REQUIRE(got.starts_with("VALUE "));
        size_t space = got.find(' ', 6);
        uint64_t v = std::stoull(got.substr(6, space - 6));
        CHECK(got.substr(space + 1) == e->value + "\n");
        if (e->version != 0)
            CHECK(v == e->version);  // reads do not move it
        else
            CHECK(v > e->floor);  // written since: newer than any version seen before that
        e->version = v;
        model.highest_seen = std::max(model.highest_seen, v);
    }

    void step()
    {
        std::string k = key();
        Request req{Op::Read, k, {}};
        std::string expect;
        ModelEntry* e = model.find(k);
        std::string v = value();
        switch (pick(0, 17)) {
        case 0:  // save, with or without a ttl
        case 1: {
            req = Request{Op::Save, k, v};
            int64_t deadline = 0;
            if (pick(0, 1)) {
                req.expiry = Expiry::After;
                req.expiry_ms = ttl_ms();
                deadline = deadline_in(req.expiry_ms);
            }
            expect = model.room_for(k);
            if (expect.empty()) {
                model.write(k, v, deadline);
                expect = "OK\n";
            }
            break;
        }
        case 2:
            req = Request{Op::Add, k, v};
            if (e)
                expect = "EXISTS\n";
            else if (expect = model.room_for(k); expect.empty()) {
                model.write(k, v, 0);
                expect = "OK\n";
            }
            break;
        case 3:
            req = Request{Op::Replace, k, v};
            expect = e ? "OK\n" : "NOT_FOUND\n";
            if (e)
                model.write(k, v, 0);
            break;
        case 4:
            check_gets(k);
            return;
        case 5: {  // cas with the version gets showed, or a stale one
            req = Request{Op::Cas, k, v};
            bool known = e && e->version != 0;
            req.version = known && pick(0, 3) ? e->version : pick(1, 1000);
            if (!e)
                expect = "NOT_FOUND\n";
            else if (known && req.version == e->version) {
                expect = "OK\n";
                model.write(k, v, 0);
            } else {
                expect = "CHANGED\n";
            }
            break;
        }
        case 6:
        case 7: {
            bool decr = pick(0, 1);
            req = Request{decr ? Op::Decr : Op::Incr, k, {}};
            req.delta = pick(-3, 3);
            int64_t n = 0;
            if (e && !is_counter(e->value, n)) {
                expect = "ERR not-integer the value is not a signed 64-bit decimal integer\n";
                break;
            }
            n = decr ? n - req.delta : n + req.delta;
            if (!e && (expect = model.room_for(k), !expect.empty()))
                break;
            model.write(k, std::to_string(n), e ? e->deadline : 0);
            expect = "VALUE " + std::to_string(n) + "\n";
            break;
        }
        case 8: {
            req = Request{Op::Append, k, v};
            std::string joined = (e ? e->value : "") + v;
            if (joined.size() > kMaxValue)
                expect = "ERR too-long the value would be " + std::to_string(joined.size()) + " bytes; the limit is "
                    + std::to_string(kMaxValue) + "\n";
            else if (!e && (expect = model.room_for(k), !expect.empty()))
                break;
            else {
                model.write(k, joined, e ? e->deadline : 0);
                expect = "OK\n";
            }
            break;
        }
        case 9:
            req = Request{Op::Take, k, {}};
            expect = e ? "VALUE " + e->value + "\n" : "NOT_FOUND\n";
            model.erase(k);
            break;
        case 10: {
            req = Request{Op::Expire, k, {}};
            req.expiry = Expiry::After;
            req.expiry_ms = pick(-1, 4) * 1000;
            expect = e ? "OK\n" : "NOT_FOUND\n";
            if (e && req.expiry_ms <= 0)
                model.erase(k);
            else if (e)
                model.write(k, e->value, deadline_in(req.expiry_ms));
            break;
        }
        case 11:
            req = Request{Op::Persist, k, {}};
            expect = e ? "OK\n" : "NOT_FOUND\n";
            if (e)
                model.write(k, e->value, 0);
            break;
        case 12:
            req = Request{Op::Ttl, k, {}};
            if (!e)
                expect = "NOT_FOUND\n";
            else if (e->deadline == 0)
                expect = "TTL none\n";
            else
                expect = "TTL " + std::to_string((e->deadline - clock.now_ms() + 999) / 1000) + "\n";
            break;
        case 13:
            req = Request{Op::Delete, k, {}};
            expect = e ? "OK\n" : "NOT_FOUND\n";
            model.erase(k);
            break;
        case 14:
            req = Request{Op::Exists, k, {}};
            expect = e ? "YES\n" : "NO\n";
            break;
        case 15:
            req = Request{pick(0, 1) ? Op::Count : Op::Keys, {}, {}};
            expect = req.op == Op::Count
                ? "COUNT " + std::to_string(model.live()) + " " + std::to_string(kCapacity) + "\n"
                : model.keys_reply();
            break;
        case 16:  // time passes; now and then the active cycle runs
            clock.advance(pick(0, 1500));
            if (pick(0, 1))
                db->expire_cycle(std::chrono::milliseconds(1));
            return;
        default:
            if (pick(0, 9) == 0)
                restart();
            else
                clock.advance(pick(0, 300));
            return;
        }
        INFO("request op " << static_cast<int>(req.op) << " key " << k << " value '" << req.value << "' at "
                           << clock.now_ms() << " after " << restarts << " restarts");
        CHECK(run(req) == expect);
    }
};

}  // namespace

TEST_CASE("model: random commands with expiry, restarts and a full store agree with a reference model",
          "[model][expiry]")
{
    uint64_t seed = GENERATE(1, 2, 3, 20261206);
    INFO("seed " << seed);
    Harness h(seed);
    for (int i = 0; i < 4000; ++i)
        h.step();
    // A last restart: the database holds exactly the live entries.
    h.restart();
    CHECK(h.run(Request{Op::Keys, {}, {}}) == h.model.keys_reply());
    CHECK(h.restarts > 10);
}
