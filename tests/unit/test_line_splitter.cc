// Unit tests for LineSplitter: framing of the client's byte stream into lines,
// including lines split across reads and lines longer than the limit.
#include <catch2/catch.hpp>

#include <vector>

#include "command.h"

using kv::LineSplitter;

namespace {

// Everything the splitter yields for `input` fed in chunks of `chunk` bytes:
// each line, or "<too-long>".
std::vector<std::string> split(std::string_view input, size_t max_line, size_t chunk)
{
    LineSplitter s(max_line);
    std::vector<std::string> out;
    for (size_t i = 0; i < input.size(); i += chunk) {
        std::string_view part = input.substr(i, chunk);
        s.append(part.data(), part.size());
        std::string_view line;
        for (;;) {
            auto r = s.next(line);
            if (r == LineSplitter::Next::NeedMore)
                break;
            out.push_back(r == LineSplitter::Next::Line ? std::string(line) : "<too-long>");
        }
    }
    return out;
}

}  // namespace

TEST_CASE("lines come out whole whatever the read boundaries", "[lines]")
{
    std::string input = "ping\nsave a:1\r\n\nread a\n";
    std::vector<std::string> want{"ping", "save a:1\r", "", "read a"};
    for (size_t chunk : {1, 2, 3, 7, 100})
        CHECK(split(input, 100, chunk) == want);
}

TEST_CASE("an overlong line is reported once and the rest of it dropped", "[lines]")
{
    std::string input = "ping\n" + std::string(50, 'x') + "\nread a\n";
    std::vector<std::string> want{"ping", "<too-long>", "read a"};
    for (size_t chunk : {1, 5, 10, 1000})
        CHECK(split(input, 10, chunk) == want);
}

TEST_CASE("a line of exactly the limit is accepted", "[lines]")
{
    std::string line(10, 'y');
    CHECK(split(line + "\n", 10, 3) == std::vector<std::string>{line});
    CHECK(split(line + "y\n", 10, 3) == std::vector<std::string>{"<too-long>"});
}

TEST_CASE("a last line without LF is available at end of input", "[lines]")
{
    LineSplitter s(100);
    s.append("ping\nread a", 11);
    std::string_view line;
    REQUIRE(s.next(line) == LineSplitter::Next::Line);
    CHECK(line == "ping");
    CHECK(s.next(line) == LineSplitter::Next::NeedMore);
    CHECK(s.take_rest() == "read a");
    CHECK(s.buffered() == 0);
}

TEST_CASE("memory stays bounded while an endless line is discarded", "[lines]")
{
    LineSplitter s(1000);
    std::string junk(4096, 'z');
    std::string_view line;
    int too_long = 0;
    for (int i = 0; i < 1000; ++i) {
        s.append(junk.data(), junk.size());
        while (s.next(line) == LineSplitter::Next::TooLong)
            ++too_long;
        CHECK(s.buffered() <= junk.size());
    }
    CHECK(too_long == 1);
    s.append("\nping\n", 6);
    REQUIRE(s.next(line) == LineSplitter::Next::Line);
    CHECK(line == "ping");
}
