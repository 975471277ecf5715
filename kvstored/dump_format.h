// dump_format.h: the text formats of `kvstored dump` and `kvstored load`.
// Both are lossless for any key and value the store can hold, and carry each
// entry's deadline and memcached flags (docs/persistence.md, "Dump and load").
//
// A dump starts with a header line naming the format version; a file without
// one is version 1 (kvstored before issue 14), which had no deadlines.
//
// jsonl: header {"kvstore_dump":2}, then one JSON object per line,
//        {"key":"...","value":"..."} plus "deadline":<unix ms> when the entry
//        has one and "flags":<0..4294967295> when its flags are not 0
//        (memcached's client flags). A key or value that is not valid UTF-8 is written
//        base64-encoded under "key_b64" or "value_b64" instead, so every byte
//        survives.
// tsv:   header "#kvstore-dump 2", then one "<key>\t<value>\t<deadline>" per
//        line, the deadline in unix ms or empty for none, and
//        "\t<flags>" after it when the flags are not 0 (version 1:
//        "<key>\t<value>"). \\, \t, \r, \n, \0 and any other byte below 0x20,
//        and 0x7f, are written as a backslash escape (\xHH for those without a
//        letter). Bytes from 0x80 up are written as they are.
// Neither header can be mistaken for an entry: every tsv entry line has a
// tab (the header none), and no jsonl entry has a "kvstore_dump" member.
//
// Flags (issue 16) did not change the version: a line without flags is as
// before, and a reader of version 2 from before them either refuses a tsv
// line with flags (three tabs) or, for jsonl, ignores the member, keeping the
// entry without its flags, which that kvstored cannot hold. Nothing is
// misread, and dumps of stores without memcached flags stay readable by it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kv::dump {

enum class Format { Jsonl, Tsv };

// The version this kvstored writes, and the newest it reads.
inline constexpr int kVersion = 2;
// Deadlines in a dump: unix ms from 1 to the end of year 9999; 0 means none.
inline constexpr int64_t kMaxDeadline = 253'402'300'799'999;

struct Entry {
    std::string key;
    std::string value;
    int64_t deadline = 0;  // unix ms; 0: none
    uint32_t flags = 0;  // memcached's client flags
};

// The first line of a dump (without its LF).
std::string header_line(Format format);
// One entry line of the current version (without its LF); deadline 0: none.
std::string encode_line(Format format, std::string_view key, std::string_view value, int64_t deadline = 0,
                        uint32_t flags = 0);

// The version a header line names (> 0), 0 when `line` is no header, or -1
// with `why` set when it is a header this kvstored cannot read.
int header_version(Format format, std::string_view line, std::string& why);

// Parses one entry line (without its LF) of a dump of `version` (1 or 2).
// Returns "" on success, else what is wrong.
std::string decode_line(Format format, int version, std::string_view line, Entry& entry);

// Reads a dump line by line: the header, when the first line is one, sets
// the version; otherwise the file is version 1.
class Reader {
public:
    explicit Reader(Format format) : format_(format) { }
    // Feeds the next non-empty line (without its LF). Returns "" on success,
    // setting `is_entry` (false for the header) and, for an entry, `entry`;
    // else what is wrong.
    std::string next(std::string_view line, Entry& entry, bool& is_entry);
    int version() const { return version_; }  // 0 before the first line

private:
    Format format_;
    int version_ = 0;
};

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& bytes);

}  // namespace kv::dump
