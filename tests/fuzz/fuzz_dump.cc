// fuzz_dump.cc: libFuzzer target for what `kvstored load` reads from a file an
// administrator hands it: kv::dump::decode_line (kvstored/dump_format.h), in
// both formats, and the base64 codec behind jsonl's *_b64 fields.
//
// The input's last byte chooses the format; the rest is one line. Whatever
// decodes must survive encode_line in both formats: the encoded line holds no
// LF (a dump is one entry per line) and decodes to the same key and value.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "dump_format.h"
#include "fuzz_check.h"

namespace {

namespace dump = kv::dump;
using kvfuzz::require;

void check_round_trip(dump::Format format, const std::string& key, const std::string& value)
{
    std::string line = dump::encode_line(format, key, value);
    require(line.find('\n') == std::string::npos, "an encoded entry is a single line");
    std::string key2, value2;
    require(dump::decode_line(format, line, key2, value2).empty(), "an encoded entry decodes");
    require(key2 == key && value2 == value, "an encoded entry decodes to the same key and value");
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
    auto format = in.ConsumeBool() ? dump::Format::Tsv : dump::Format::Jsonl;
    std::string line = in.ConsumeRemainingBytesAsString();

    std::string key, value;
    std::string error = dump::decode_line(format, line, key, value);
    if (error.empty()) {
        check_round_trip(dump::Format::Jsonl, key, value);
        check_round_trip(dump::Format::Tsv, key, value);
    }
    check_base64(line);
    return 0;
}
