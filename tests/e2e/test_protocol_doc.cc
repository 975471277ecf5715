// test_protocol_doc.cc: docs/protocol.md's examples are executable. Every
// block fenced with ```transcript is replayed against a fresh kvstored (default
// options) and kvsvc: lines "> X" are sent, lines "< Y" are the exact replies
// expected, in order. The greeting may be shown as the first "< " lines;
// otherwise it is read and checked silently. When the block ends, the client
// closes its sending side and no further output may arrive.
#include <catch2/catch.hpp>

#include <sstream>

#include "kvstore.h"

using namespace kvtest;

namespace {

using Lines = std::vector<std::string>;

const std::string kDoc = KVSTORE_SOURCE_DIR "/docs/protocol.md";

struct Step {
    size_t line = 0;  // in the doc, for messages
    std::string send;
    Lines expect;
};

struct Transcript {
    size_t line = 0;  // of the opening fence
    Lines greeting;  // "< " lines before the first "> "
    std::vector<Step> steps;
};

// Adds one line of a block to `t`. Returns an error message, or "".
std::string add_line(Transcript& t, const std::string& text, size_t n)
{
    if (text.empty())
        return "";
    bool sent = text == ">" || text.rfind("> ", 0) == 0;
    bool received = text == "<" || text.rfind("< ", 0) == 0;
    if (!sent && !received)
        return "line " + std::to_string(n) + " starts with neither '> ' nor '< ': " + text;
    std::string body = text.size() > 2 ? text.substr(2) : "";
    if (sent)
        t.steps.push_back(Step{n, body, {}});
    else if (t.steps.empty())
        t.greeting.push_back(body);
    else
        t.steps.back().expect.push_back(body);
    return "";
}

std::vector<Transcript> parse_transcripts(const std::string& doc, Lines& errors)
{
    std::vector<Transcript> blocks;
    std::istringstream in(doc);
    std::string text;
    bool inside = false;
    for (size_t n = 1; std::getline(in, text); ++n) {
        if (!inside && text == "```transcript") {
            blocks.push_back(Transcript{n, {}, {}});
            inside = true;
        } else if (inside && text.rfind("```", 0) == 0) {
            inside = false;
        } else if (inside) {
            if (std::string e = add_line(blocks.back(), text, n); !e.empty())
                errors.push_back(e);
        }
    }
    if (inside)
        errors.push_back("the transcript block of line " + std::to_string(blocks.back().line) + " is not closed");
    return blocks;
}

// Replays one block; stops it at the first mismatch, so that each block
// reports at most one failure and the others still run.
void replay(const Transcript& t)
{
    INFO("docs/protocol.md: transcript block at line " << t.line);
    TempDir dir;
    Daemon daemon(dir);
    KvsvcSession s = spawn_kvsvc(daemon.socket_path());
    LineClient& c = s.client;
    Lines hello = c.read_lines(std::max<size_t>(t.greeting.size(), 1));
    bool ok = hello == (t.greeting.empty() ? Lines{greeting()} : t.greeting);
    CHECK(ok);
    for (size_t i = 0; ok && i < t.steps.size(); ++i) {
        const Step& step = t.steps[i];
        INFO("line " << step.line << ": > " << step.send);
        c.send(step.send + "\n");
        Lines got = c.read_lines(step.expect.size());
        ok = got == step.expect;
        CHECK(got == step.expect);
    }
    if (!ok)
        return;
    c.shutdown_write();
    INFO("after the last line of the block");
    CHECK(c.read_to_eof() == "");
}

}  // namespace

TEST_CASE("every transcript in docs/protocol.md replays exactly")
{
    std::string doc = read_file(kDoc);
    INFO("reading " << kDoc);
    REQUIRE_FALSE(doc.empty());
    Lines errors;
    std::vector<Transcript> blocks = parse_transcripts(doc, errors);
    for (const auto& e : errors)
        FAIL_CHECK("docs/protocol.md: " << e);
    REQUIRE_FALSE(blocks.empty());
    for (const Transcript& t : blocks) {
        CHECK_FALSE(t.steps.empty());
        replay(t);
    }
}
