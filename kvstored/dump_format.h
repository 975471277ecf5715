// dump_format.h: the text formats of `kvstored dump` and `kvstored load`.
// Both are lossless for any key and value the store can hold.
//
// jsonl: one JSON object per line, {"key":"...","value":"..."}. A key or
//        value that is not valid UTF-8 is written base64-encoded under
//        "key_b64" or "value_b64" instead, so every byte survives.
// tsv:   one "<key>\t<value>" per line, with \\, \t, \r, \n, \0 and any other
//        byte below 0x20, and 0x7f, written as a backslash escape (\xHH for
//        those without a letter). Bytes from 0x80 up are written as they are.
#pragma once

#include <string>
#include <string_view>

namespace kv::dump {

enum class Format { Jsonl, Tsv };

std::string encode_line(Format format, std::string_view key, std::string_view value);

// Parses one line (without its LF). Returns "" on success, else what is wrong.
std::string decode_line(Format format, std::string_view line, std::string& key, std::string& value);

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& bytes);

}  // namespace kv::dump
