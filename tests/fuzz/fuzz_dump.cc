// fuzz_dump.cc: libFuzzer target for what `kvstored load` reads from a file an
// administrator hands it: kv::dump::decode_line (kvstored/dump_format.h), in
// both formats and both versions, the header check, and the base64 codec
// behind jsonl's *_b64 fields.
//
// The input's last byte chooses the format and the version; the rest is one
// line. Whatever decodes must survive encode_line in both formats: the encoded
// line holds no LF (a dump is one entry per line) and decodes to the same key,
// value and deadline.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "dump_format.h"
#include "fuzz_check.h"

namespace {

namespace dump = kv::dump;
using kvfuzz::require;

void check_round_trip(dump::Format format, const dump::Entry& e)
{
    std::string line = dump::encode_line(format, e.key, e.value, e.deadline, e.flags);
    require(line.find('\n') == std::string::npos, "an encoded entry is a single line");
    std::string why;
    require(dump::header_version(format, line, why) == 0, "an encoded entry is no header");
    dump::Entry back;
    require(dump::decode_line(format, dump::kVersion, line, back).empty(), "an encoded entry decodes");
    require(back.key == e.key && back.value == e.value && back.deadline == e.deadline && back.flags == e.flags,
            "an encoded entry decodes to the same key, value, deadline and flags");
}

// base64_decode may accept non-canonical padding bits, but what it returns
// must encode and decode back to itself.
void check_base64(const std::string& text)
{
    std::string bytes;
    if (!dump::base64_decode(text, bytes))
        return;
    require(bytes.size() <= text.size() / 4 * 3, "base64 decodes to at most 3 bytes per 4 characters");
    std::string again;
    require(dump::base64_decode(dump::base64_encode(bytes), again) && again == bytes, "base64 round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzedDataProvider in(data, size);
    // The last byte: bit 0 the format (0 jsonl, 1 tsv), bit 1 the version (0: 1, 1: 2).
    auto params = in.ConsumeIntegral<uint8_t>();
    auto format = params & 1 ? dump::Format::Tsv : dump::Format::Jsonl;
    int version = params & 2 ? 2 : 1;
    std::string line = in.ConsumeRemainingBytesAsString();

    dump::Entry e;
    std::string error = dump::decode_line(format, version, line, e);
    if (error.empty()) {
        require(e.deadline >= 0 && e.deadline <= dump::kMaxDeadline, "a decoded deadline is in range");
        check_round_trip(dump::Format::Jsonl, e);
        check_round_trip(dump::Format::Tsv, e);
    }
    std::string why;
    int header = dump::header_version(format, line, why);
    require(header >= -1 && header <= dump::kVersion && (header == -1) == !why.empty(),
            "a header names a known version, or says why not");
    check_base64(line);
    return 0;
}
