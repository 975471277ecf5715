// Unit tests for the dump/load line formats (kvstored/dump_format.h): every
// byte survives both formats, the encodings are the documented ones, base64
// matches RFC 4648, and each malformed line is rejected with a message.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>

#include "dump_format.h"

using namespace std::string_literals;
using kv::dump::base64_decode;
using kv::dump::base64_encode;
using kv::dump::decode_line;
using kv::dump::encode_line;
using kv::dump::Format;

namespace {

const char* name(Format f)
{
    return f == Format::Jsonl ? "jsonl" : "tsv";
}

// Encodes, checks the line is one line (and for tsv has one tab), decodes, and
// requires the same key and value back.
void require_round_trip(Format format, const std::string& key, const std::string& value)
{
    std::string line = encode_line(format, key, value);
    INFO(name(format) << " line: " << line);
    REQUIRE(line.find('\n') == std::string::npos);
    if (format == Format::Tsv)
        REQUIRE(std::count(line.begin(), line.end(), '\t') == 1);
    std::string k = "stale", v = "stale";
    REQUIRE(decode_line(format, line, k, v) == "");
    REQUIRE(k == key);
    REQUIRE(v == value);
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
    CHECK(encode_line(Format::Tsv, "a", "b") == "a\tb");
    CHECK(encode_line(Format::Tsv, "k", "") == "k\t");
    CHECK(encode_line(Format::Tsv, "a\tb", "\\\r\n"s + '\0' + "\x01\x1f\x7f")
          == R"(a\tb)"
             "\t"
             R"(\\\r\n\0\x01\x1f\x7f)");
    CHECK(encode_line(Format::Tsv, "k", " \"'é\xff") == "k\t \"'é\xff");
}

TEST_CASE("tsv accepts upper and lower case hex escapes", "[dump]")
{
    std::string key, value;
    REQUIRE(decode_line(Format::Tsv,
                        R"(k\x41)"
                        "\t"
                        R"(\xFF\xfe\x00)",
                        key, value)
            == "");
    CHECK(key == "kA");
    CHECK(value == "\xff\xfe"s + '\0');
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

TEST_CASE("decode_line says what is wrong with a malformed line", "[dump]")
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
        INFO(name(c.format) << " line '" << c.line << "'");
        std::string key, value;
        CHECK(decode_line(c.format, c.line, key, value) == c.why);
    }
}
