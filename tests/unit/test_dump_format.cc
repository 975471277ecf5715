// Unit tests for the dump/load line formats (kvstored/dump_format.h): every
// byte and every deadline survives both formats, the encodings are the
// documented ones, base64 matches RFC 4648, each malformed line is rejected
// with a message, version-1 dumps (no header) still load, and a header naming
// an unknown version is refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dump_format.h"

using namespace std::string_literals;
using kv::dump::base64_decode;
using kv::dump::base64_encode;
using kv::dump::decode_line;
using kv::dump::encode_line;
using kv::dump::Entry;
using kv::dump::Format;
using kv::dump::Reader;

namespace {

const char* name(Format f)
{
    return f == Format::Jsonl ? "jsonl" : "tsv";
}

// Encodes, checks the line is one line (and for tsv has two tabs), decodes,
// and requires the same key, value and deadline back.
void require_round_trip(Format format, const std::string& key, const std::string& value, int64_t deadline = 0)
{
    std::string line = encode_line(format, key, value, deadline);
    INFO(name(format) << " line: " << line);
    REQUIRE(line.find('\n') == std::string::npos);
    if (format == Format::Tsv)
        REQUIRE(std::count(line.begin(), line.end(), '\t') == 2);
    Entry e{"stale", "stale", 12345};
    REQUIRE(decode_line(format, kv::dump::kVersion, line, e) == "");
    REQUIRE(e.key == key);
    REQUIRE(e.value == value);
    REQUIRE(e.deadline == deadline);
}

// Feeds `lines` to a Reader; returns the entries, or fails the test at the
// first error.
std::vector<Entry> read_all(Format format, const std::vector<std::string>& lines, int& version)
{
    Reader reader(format);
    std::vector<Entry> entries;
    for (const std::string& line : lines) {
        Entry e;
        bool is_entry = false;
        INFO(name(format) << " line '" << line << "'");
        REQUIRE(reader.next(line, e, is_entry) == "");
        if (is_entry)
            entries.push_back(e);
    }
    version = reader.version();
    return entries;
}

// The first error a Reader reports for `lines`, "" if none.
std::string read_error(Format format, const std::vector<std::string>& lines)
{
    Reader reader(format);
    for (const std::string& line : lines) {
        Entry e;
        bool is_entry;
        if (std::string why = reader.next(line, e, is_entry); !why.empty())
            return why;
    }
    return "";
}

std::vector<std::string> fixture_lines(const std::string& name)
{
    std::ifstream in(std::string(KVSTORE_TEST_DATA) + "/" + name);
    REQUIRE(in);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

std::string all_bytes()
{
    std::string s;
    for (int b = 0; b < 256; ++b)
        s += static_cast<char>(b);
    return s;
}

}  // namespace

TEST_CASE("every byte 0..255 round-trips in keys and values, in both formats", "[dump]")
{
    Format format = GENERATE(Format::Jsonl, Format::Tsv);
    for (int b = 0; b < 256; ++b) {
        INFO("byte " << b);
        std::string c(1, static_cast<char>(b));
        require_round_trip(format, c, c);
        require_round_trip(format, "k" + c + "k", "v" + c + "v");
        require_round_trip(format, "key", c + c + c);
    }
    require_round_trip(format, all_bytes(), all_bytes());
    require_round_trip(format, "key", all_bytes() + all_bytes());
    require_round_trip(format, "", "");
}

TEST_CASE("random byte strings round-trip in both formats", "[dump]")
{
    Format format = GENERATE(Format::Jsonl, Format::Tsv);
    std::mt19937 rng(20240501);
    std::uniform_int_distribution<int> byte(0, 255), length(0, 40);
    for (int i = 0; i < 2000; ++i) {
        std::string key, value;
        for (int n = length(rng); n > 0; --n)
            key += static_cast<char>(byte(rng));
        for (int n = length(rng); n > 0; --n)
            value += static_cast<char>(byte(rng));
        require_round_trip(format, key, value);
    }
}

TEST_CASE("jsonl writes UTF-8 as JSON strings and anything else as base64", "[dump]")
{
    CHECK(encode_line(Format::Jsonl, "a", "b") == R"({"key":"a","value":"b"})");
    CHECK(encode_line(Format::Jsonl, "k", "") == R"({"key":"k","value":""})");
    CHECK(encode_line(Format::Jsonl, "k", "\t\r\"\\"s + '\0') == R"({"key":"k","value":"\t\r\"\\\u0000"})");
    CHECK(encode_line(Format::Jsonl, "ключ", "✓") == R"({"key":"ключ","value":"✓"})");
    CHECK(encode_line(Format::Jsonl, "k", "\xff") == R"({"key":"k","value_b64":"/w=="})");
    CHECK(encode_line(Format::Jsonl, "\xc3\xa9\xff", "v") == R"({"key_b64":"w6n/","value":"v"})");
    CHECK(encode_line(Format::Jsonl, "\xc3", "\xe2\x9c") == R"({"key_b64":"ww==","value_b64":"4pw="})");
}

TEST_CASE("tsv escapes backslash, tab, CR, LF, NUL and control bytes, and nothing else", "[dump]")
{
    CHECK(encode_line(Format::Tsv, "a", "b") == "a\tb\t");
    CHECK(encode_line(Format::Tsv, "k", "") == "k\t\t");
    CHECK(encode_line(Format::Tsv, "a\tb", "\\\r\n"s + '\0' + "\x01\x1f\x7f")
          == R"(a\tb)"
             "\t"
             R"(\\\r\n\0\x01\x1f\x7f)"
             "\t");
    CHECK(encode_line(Format::Tsv, "k", " \"'é\xff") == "k\t \"'é\xff\t");
}

TEST_CASE("tsv accepts upper and lower case hex escapes", "[dump]")
{
    Entry e;
    REQUIRE(decode_line(Format::Tsv, 1,
                        R"(k\x41)"
                        "\t"
                        R"(\xFF\xfe\x00)",
                        e)
            == "");
    CHECK(e.key == "kA");
    CHECK(e.value == "\xff\xfe"s + '\0');
}

TEST_CASE("base64 round-trips every length 0..10 and matches RFC 4648", "[dump]")
{
    for (size_t n = 0; n <= 10; ++n) {
        for (unsigned char fill : {0x00, 0x5a, 0xff}) {
            std::string bytes;
            for (size_t i = 0; i < n; ++i)
                bytes += static_cast<char>(fill ^ static_cast<unsigned char>(i * 37));
            std::string text = base64_encode(bytes);
            INFO("length " << n << " fill " << int(fill) << ": " << text);
            CHECK(text.size() == (n + 2) / 3 * 4);
            std::string back = "stale";
            REQUIRE(base64_decode(text, back));
            CHECK(back == bytes);
        }
    }
    const std::pair<std::string, std::string> rfc[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : rfc) {
        CHECK(base64_encode(plain) == encoded);
        std::string back;
        CHECK(base64_decode(encoded, back));
        CHECK(back == plain);
    }
    CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("base64_decode rejects what is not base64", "[dump]")
{
    for (std::string bad :
         {"Zg=", "Zg", "Z", "Zg=a", "Z===", "====", "Zm9v!A==", "Zg==Zg==", " Zg==", "Zg==\n", "Zm9-", "Zm9_"}) {
        INFO("'" << bad << "'");
        std::string bytes;
        CHECK_FALSE(base64_decode(bad, bytes));
    }
}

TEST_CASE("decode_line says what is wrong with a malformed version-1 line", "[dump]")
{
    struct Case {
        Format format;
        std::string line;
        std::string why;
    };
    const Case cases[] = {
        {Format::Jsonl, "", "not a JSON object"},
        {Format::Jsonl, "{", "not a JSON object"},
        {Format::Jsonl, "[\"k\",\"v\"]", "not a JSON object"},
        {Format::Jsonl, "\"k\"", "not a JSON object"},
        {Format::Jsonl, R"({"key":"k","value":"v"} x)", "not a JSON object"},
        {Format::Jsonl, R"({"value":"v"})", R"(missing "key" (or "key_b64"))"},
        {Format::Jsonl, R"({"key":1,"value":"v"})", R"(missing "key" (or "key_b64"))"},
        {Format::Jsonl, R"({"key":"k"})", R"(missing "value" (or "value_b64"))"},
        {Format::Jsonl, R"({"key":"k","value":null})", R"(missing "value" (or "value_b64"))"},
        {Format::Jsonl, R"({"key_b64":"!!!!","value":"v"})", "key_b64 is not valid base64"},
        {Format::Jsonl, R"({"key":"k","value_b64":"Zg="})", "value_b64 is not valid base64"},
        {Format::Tsv, "", "expected exactly one tab between key and value"},
        {Format::Tsv, "kv", "expected exactly one tab between key and value"},
        {Format::Tsv, "k\tv\tw", "expected exactly one tab between key and value"},
        {Format::Tsv, "k\t\t", "expected exactly one tab between key and value"},
        {Format::Tsv,
         R"(k\q)"
         "\tv",
         "bad backslash escape"},
        {Format::Tsv,
         "k\t"
         R"(v\)",
         "bad backslash escape"},
        {Format::Tsv,
         "k\t"
         R"(\x4)",
         "bad backslash escape"},
        {Format::Tsv,
         "k\t"
         R"(\xg0)",
         "bad backslash escape"},
        {Format::Tsv,
         "k\t"
         R"(\T)",
         "bad backslash escape"},
    };
    for (const auto& c : cases) {
        INFO(name(c.format) << " version-1 line '" << c.line << "'");
        Entry e;
        CHECK(decode_line(c.format, 1, c.line, e) == c.why);
    }
}

// --- issue 14: dump format version 2 (deadlines, a header) ---------------------------

TEST_CASE("deadlines round-trip in both formats, and an entry without one has none", "[dump][expiry]")
{
    Format format = GENERATE(Format::Jsonl, Format::Tsv);
    for (int64_t deadline : {int64_t{0}, int64_t{1}, int64_t{1'800'000'000'123}, kv::dump::kMaxDeadline}) {
        INFO("deadline " << deadline);
        require_round_trip(format, "key", "value", deadline);
        require_round_trip(format, "\xff\t", "", deadline);
    }
}

TEST_CASE("version-2 lines are the documented ones", "[dump][expiry]")
{
    CHECK(kv::dump::header_line(Format::Jsonl) == R"({"kvstore_dump":2})");
    CHECK(kv::dump::header_line(Format::Tsv) == "#kvstore-dump 2");
    CHECK(encode_line(Format::Jsonl, "k", "v", 1'800'000'000'000)
          == R"({"key":"k","value":"v","deadline":1800000000000})");
    CHECK(encode_line(Format::Jsonl, "k", "v", 0) == R"({"key":"k","value":"v"})");
    CHECK(encode_line(Format::Tsv, "k", "v", 1'800'000'000'000) == "k\tv\t1800000000000");
    CHECK(encode_line(Format::Tsv, "k", "v", 0) == "k\tv\t");
}

TEST_CASE("a version-2 dump reads back with its deadlines", "[dump][expiry]")
{
    Format format = GENERATE(Format::Jsonl, Format::Tsv);
    std::vector<std::string> lines{kv::dump::header_line(format), encode_line(format, "a", "1", 1'800'000'000'000),
                                   encode_line(format, "b", "2")};
    int version = 0;
    std::vector<Entry> entries = read_all(format, lines, version);
    CHECK(version == 2);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].key == "a");
    CHECK(entries[0].deadline == 1'800'000'000'000);
    CHECK(entries[1].key == "b");
    CHECK(entries[1].deadline == 0);
}

TEST_CASE("a file without a header is version 1, as every dump before issue 14", "[dump]")
{
    int version = 0;
    std::vector<Entry> tsv = read_all(Format::Tsv, {"a\tb", "c\t"}, version);
    CHECK(version == 1);
    REQUIRE(tsv.size() == 2);
    CHECK(tsv[1].key == "c");
    CHECK(tsv[1].value.empty());
    CHECK(tsv[1].deadline == 0);
    // A version-1 tsv line has one tab: a version-2 line (two) is refused there, and the other way round.
    CHECK(read_error(Format::Tsv, {"a\tb\t"}) == "expected exactly one tab between key and value");
    CHECK(read_error(Format::Tsv, {"#kvstore-dump 2", "a\tb"})
          == "expected two or three tabs: key, value, deadline (empty for none), flags (if not 0)");
    // A header may say version 1 too.
    CHECK(read_all(Format::Tsv, {"#kvstore-dump 1", "a\tb"}, version).size() == 1);
    CHECK(read_all(Format::Jsonl, {R"({"kvstore_dump":1})", R"({"key":"a","value":"b"})"}, version).size() == 1);
}

TEST_CASE("dumps written by kvstored before issue 14 still read, identically in both formats", "[dump][fixture]")
{
    // tests/data: `kvstored dump` of the same store by main e7fe496, in each format.
    int jsonl_version = 0, tsv_version = 0;
    std::vector<Entry> jsonl = read_all(Format::Jsonl, fixture_lines("dump-v1.jsonl"), jsonl_version);
    std::vector<Entry> tsv = read_all(Format::Tsv, fixture_lines("dump-v1.tsv"), tsv_version);
    CHECK(jsonl_version == 1);
    CHECK(tsv_version == 1);
    REQUIRE(jsonl.size() == 9);
    REQUIRE(tsv.size() == 9);
    for (size_t i = 0; i < jsonl.size(); ++i) {
        INFO("entry " << i << ": " << jsonl[i].key);
        CHECK(jsonl[i].key == tsv[i].key);
        CHECK(jsonl[i].value == tsv[i].value);
        CHECK(jsonl[i].deadline == 0);
        CHECK(tsv[i].deadline == 0);
    }
    CHECK(jsonl[1].key == "binary");
    CHECK(jsonl[1].value == "\x01\x02\xff\xfe\x80zero-free");
    CHECK(jsonl[5].key == "k\xc3(bad");
    CHECK(jsonl[5].value == "v\xe2\x82");
}

TEST_CASE("a header naming an unknown version is refused with a clear error", "[dump]")
{
    CHECK(read_error(Format::Jsonl, {R"({"kvstore_dump":3})", R"({"key":"a","value":"b"})"})
          == "dump format version 3 is unknown; this kvstored reads versions 1 to 2 (was the dump written by a "
             "newer kvstored?)");
    CHECK(read_error(Format::Tsv, {"#kvstore-dump 3", "a\tb\t"})
          == "dump format version '3' is unknown; this kvstored reads versions 1 to 2 (was the dump written by a "
             "newer kvstored?)");
    CHECK_THAT(read_error(Format::Jsonl, {R"({"kvstore_dump":"2"})"}), Catch::Contains("version \"2\" is unknown"));
    CHECK_THAT(read_error(Format::Jsonl, {R"({"kvstore_dump":0})"}), Catch::Contains("version 0 is unknown"));
    CHECK_THAT(read_error(Format::Tsv, {"#kvstore-dump 02"}), Catch::Contains("version '02' is unknown"));
    CHECK_THAT(read_error(Format::Tsv, {"#kvstore-dump "}), Catch::Contains("version '' is unknown"));
}

TEST_CASE("version-2 lines say what is wrong with a deadline or a misplaced header", "[dump][expiry]")
{
    const std::string problem = "deadline must be a unix time in milliseconds from 1 to 253402300799999";
    for (std::string bad :
         {"0", "-1", "+5", "01", "1.5", "1e12", " 1", "253402300800000", "99999999999999999999", "x"}) {
        INFO("tsv deadline '" << bad << "'");
        Entry e;
        CHECK(decode_line(Format::Tsv, 2, "k\tv\t" + bad, e) == problem);
    }
    for (std::string bad : {"0", "-1", "1.5", "\"5\"", "null", "true", "253402300800000", "18446744073709551616"}) {
        INFO("jsonl deadline " << bad);
        Entry e;
        CHECK(decode_line(Format::Jsonl, 2, R"({"key":"k","value":"v","deadline":)" + bad + "}", e) == problem);
    }
    CHECK(read_error(Format::Jsonl, {R"({"kvstore_dump":2})", R"({"kvstore_dump":2})"})
          == "a header line may only be the first line");
    CHECK(read_error(Format::Tsv, {"a\tb", "#kvstore-dump 2"}) == "a header line may only be the first line");
    CHECK(read_error(Format::Jsonl, {R"({"key":"a","value":"b"})", R"({"kvstore_dump":2,"key":"k","value":"v"})"})
          == "a header line may only be the first line");
}

// --- issue 16: memcached's client flags ----------------------------------------------------

TEST_CASE("flags are written when not 0 and read back, in both formats, with or without a deadline", "[dump][flags]")
{
    CHECK(encode_line(Format::Jsonl, "k", "v", 0, 7) == R"({"key":"k","value":"v","flags":7})");
    CHECK(encode_line(Format::Jsonl, "k", "v", 1'800'000'000'000, 4'294'967'295)
          == R"({"key":"k","value":"v","deadline":1800000000000,"flags":4294967295})");
    CHECK(encode_line(Format::Jsonl, "k", "v", 0, 0) == R"({"key":"k","value":"v"})");
    CHECK(encode_line(Format::Tsv, "k", "v", 0, 7) == "k\tv\t\t7");
    CHECK(encode_line(Format::Tsv, "k", "v", 1'800'000'000'000, 4'294'967'295) == "k\tv\t1800000000000\t4294967295");
    CHECK(encode_line(Format::Tsv, "k", "v", 0, 0) == "k\tv\t");
    for (Format format : {Format::Jsonl, Format::Tsv})
        for (int64_t deadline : {int64_t{0}, int64_t{1'800'000'000'000}})
            for (uint32_t flags : {0u, 1u, 0x8000'0000u, 4'294'967'295u}) {
                std::string line = encode_line(format, "k\t\xff", "v\n\\", deadline, flags);
                INFO(name(format) << " line: " << line);
                Entry e{"stale", "stale", 12345, 99};
                REQUIRE(decode_line(format, kv::dump::kVersion, line, e) == "");
                CHECK(e.key == "k\t\xff");
                CHECK(e.value == "v\n\\");
                CHECK(e.deadline == deadline);
                CHECK(e.flags == flags);
            }
    // Through a Reader, after the header, as `kvstored load` reads.
    for (Format format : {Format::Jsonl, Format::Tsv}) {
        int version = 0;
        std::vector<Entry> back = read_all(
            format, {kv::dump::header_line(format), encode_line(format, "a", "1", 0, 5), encode_line(format, "b", "2")},
            version);
        CHECK(version == 2);
        REQUIRE(back.size() == 2);
        CHECK(back[0].flags == 5);
        CHECK(back[1].flags == 0);
    }
}

TEST_CASE("bad flags in a dump line are refused", "[dump][flags]")
{
    const std::string problem = "flags must be a decimal number from 0 to 4294967295";
    for (std::string bad : {"", "-1", "4294967296", "07", "1.5", "x", " 1", "99999999999"}) {
        INFO("flags '" << bad << "'");
        Entry e;
        CHECK(decode_line(Format::Tsv, 2, "k\tv\t\t" + bad, e) == problem);
    }
    for (std::string bad : {"-1", "4294967296", "1.5", "\"7\"", "null", "true"}) {
        INFO("flags " << bad);
        Entry e;
        CHECK(decode_line(Format::Jsonl, 2, R"({"key":"k","value":"v","flags":)" + bad + "}", e) == problem);
    }
    Entry e;
    CHECK(decode_line(Format::Tsv, 2, "k\tv\t\t0", e).empty());  // 0 is never written, but reads
    CHECK(decode_line(Format::Jsonl, 2, R"({"key":"k","value":"v","flags":0})", e).empty());
    // Four tabs: too many.
    CHECK(decode_line(Format::Tsv, 2, "k\tv\t\t1\t", e)
          == "expected two or three tabs: key, value, deadline (empty for none), flags (if not 0)");
    // A version-1 tsv line has no room for flags.
    CHECK(decode_line(Format::Tsv, 1, "k\tv\t7", e) == "expected exactly one tab between key and value");
}
