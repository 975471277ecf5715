// dump_format.cc: see dump_format.h.
#include "dump_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace kv::dump {
namespace {

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Stores `bytes` under `name`, or base64 under `name`_b64 if not valid UTF-8.
void put_bytes(nlohmann::ordered_json& obj, const char* name, std::string_view bytes)
{
    nlohmann::json probe = std::string(bytes);
    try {
        (void)probe.dump();  // throws on invalid UTF-8
        obj[name] = std::string(bytes);
    } catch (const nlohmann::json::type_error&) {
        obj[std::string(name) + "_b64"] = base64_encode(bytes);
    }
}

std::string get_bytes(const nlohmann::json& obj, const char* name, std::string& out)
{
    std::string b64 = std::string(name) + "_b64";
    if (obj.contains(name) && obj[name].is_string()) {
        out = obj[name].get<std::string>();
        return "";
    }
    if (obj.contains(b64) && obj[b64].is_string()) {
        if (!base64_decode(obj[b64].get<std::string>(), out))
            return b64 + " is not valid base64";
        return "";
    }
    return std::string("missing \"") + name + "\" (or \"" + b64 + "\")";
}

std::string tsv_escape(std::string_view s)
{
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (char ch : s) {
        unsigned char c = static_cast<unsigned char>(ch);
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\0':
            out += "\\0";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += ch;
            }
        }
    }
    return out;
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool tsv_unescape(std::string_view s, std::string& out)
{
    out.clear();
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size())
            return false;
        switch (s[i]) {
        case '\\':
            out += '\\';
            break;
        case 't':
            out += '\t';
            break;
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case '0':
            out += '\0';
            break;
        case 'x': {
            int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            return false;
        }
    }
    return true;
}

// A deadline as written in a dump: "" (none) or a decimal without sign or
// leading zero, 1..kMaxDeadline.
bool parse_deadline(std::string_view text, int64_t& deadline)
{
    deadline = 0;
    if (text.empty())
        return true;
    if (text.size() > 15 || text[0] < '1' || text[0] > '9')
        return false;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        deadline = deadline * 10 + (c - '0');
    }
    return deadline <= kMaxDeadline;
}

// Flags as written in a tsv dump: a decimal without sign or leading zero,
// 0..UINT32_MAX.
bool parse_flags(std::string_view text, uint32_t& flags)
{
    uint64_t n = 0;
    if (text.empty() || text.size() > 10 || (text[0] == '0' && text.size() > 1))
        return false;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    flags = static_cast<uint32_t>(n);
    return n <= UINT32_MAX;
}

const std::string kFlagsProblem = "flags must be a decimal number from 0 to 4294967295";

const std::string kDeadlineProblem
    = "deadline must be a unix time in milliseconds from 1 to " + std::to_string(kMaxDeadline);

std::string decode_tsv(int version, std::string_view line, Entry& e)
{
    // Version 1: "<key>\t<value>"; version 2 adds "\t<deadline or empty>"
    // and, when the flags are not 0, "\t<flags>".
    e.deadline = 0;
    e.flags = 0;
    size_t tabs = static_cast<size_t>(std::count(line.begin(), line.end(), '\t'));
    if (version == 1 && tabs != 1)
        return "expected exactly one tab between key and value";
    if (version != 1 && tabs != 2 && tabs != 3)
        return "expected two or three tabs: key, value, deadline (empty for none), flags (if not 0)";
    size_t tab = line.find('\t');
    size_t tab2 = version == 1 ? line.size() : line.find('\t', tab + 1);
    size_t tab3 = tabs == 3 ? line.find('\t', tab2 + 1) : line.size();
    if (!tsv_unescape(line.substr(0, tab), e.key) || !tsv_unescape(line.substr(tab + 1, tab2 - tab - 1), e.value))
        return "bad backslash escape";
    if (version != 1 && !parse_deadline(line.substr(tab2 + 1, tab3 - tab2 - 1), e.deadline))
        return kDeadlineProblem;
    if (tabs == 3 && !parse_flags(line.substr(tab3 + 1), e.flags))
        return kFlagsProblem;
    return "";
}

std::string decode_jsonl(std::string_view line, Entry& e)
{
    nlohmann::json obj = nlohmann::json::parse(line, nullptr, false);
    if (obj.is_discarded() || !obj.is_object())
        return "not a JSON object";
    if (obj.contains("kvstore_dump"))
        return "a header ({\"kvstore_dump\":...}) may only be the first line";
    if (std::string err = get_bytes(obj, "key", e.key); !err.empty())
        return err;
    if (std::string err = get_bytes(obj, "value", e.value); !err.empty())
        return err;
    // Read in either version: a hand-made version-1 file may carry them.
    e.deadline = 0;
    if (auto it = obj.find("deadline"); it != obj.end()) {
        if (!it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > kMaxDeadline)
            return kDeadlineProblem;
        e.deadline = static_cast<int64_t>(it->get<uint64_t>());
    }
    e.flags = 0;
    if (auto it = obj.find("flags"); it != obj.end()) {
        if (!it->is_number_unsigned() || it->get<uint64_t>() > UINT32_MAX)
            return kFlagsProblem;
        e.flags = static_cast<uint32_t>(it->get<uint64_t>());
    }
    return "";
}

std::string unknown_version(const std::string& found)
{
    return "dump format version " + found + " is unknown; this kvstored reads versions 1 to " + std::to_string(kVersion)
        + " (was the dump written by a newer kvstored?)";
}

}  // namespace

std::string header_line(Format format)
{
    return format == Format::Tsv ? "#kvstore-dump " + std::to_string(kVersion)
                                 : "{\"kvstore_dump\":" + std::to_string(kVersion) + "}";
}

std::string encode_line(Format format, std::string_view key, std::string_view value, int64_t deadline, uint32_t flags)
{
    if (format == Format::Tsv)
        return tsv_escape(key) + "\t" + tsv_escape(value) + "\t" + (deadline > 0 ? std::to_string(deadline) : "")
            + (flags != 0 ? "\t" + std::to_string(flags) : "");
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    put_bytes(obj, "key", key);
    put_bytes(obj, "value", value);
    if (deadline > 0)
        obj["deadline"] = deadline;
    if (flags != 0)
        obj["flags"] = flags;
    return obj.dump();
}

int header_version(Format format, std::string_view line, std::string& why)
{
    if (format == Format::Tsv) {
        // Every entry line has a tab; the header has none.
        constexpr std::string_view kTag = "#kvstore-dump ";
        if (!line.starts_with(kTag) || line.find('\t') != std::string_view::npos)
            return 0;
        std::string_view number = line.substr(kTag.size());
        if (number == "1" || number == "2")
            return number[0] - '0';
        why = unknown_version("'" + std::string(number) + "'");
        return -1;
    }
    // Cheap test first: an entry line of any size is parsed once, by decode_line.
    if (line.find("\"kvstore_dump\"") == std::string_view::npos)
        return 0;
    nlohmann::json obj = nlohmann::json::parse(line, nullptr, false);
    if (obj.is_discarded() || !obj.is_object() || !obj.contains("kvstore_dump"))
        return 0;
    const nlohmann::json& v = obj["kvstore_dump"];
    if (v.is_number_unsigned() && v.get<uint64_t>() >= 1 && v.get<uint64_t>() <= kVersion)
        return static_cast<int>(v.get<uint64_t>());
    why = unknown_version(v.dump());
    return -1;
}

std::string decode_line(Format format, int version, std::string_view line, Entry& entry)
{
    return format == Format::Tsv ? decode_tsv(version, line, entry) : decode_jsonl(line, entry);
}

std::string Reader::next(std::string_view line, Entry& entry, bool& is_entry)
{
    std::string why;
    int header = header_version(format_, line, why);
    if (header < 0)
        return why;
    if (header > 0) {
        if (version_ != 0)
            return "a header line may only be the first line";
        version_ = header;
        is_entry = false;
        return "";
    }
    if (version_ == 0)
        version_ = 1;  // no header: written before dumps had one
    is_entry = true;
    return decode_line(format_, version_, line, entry);
}

std::string base64_encode(std::string_view bytes)
{
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8)
            | static_cast<unsigned char>(bytes[i + 2]);
        for (int shift : {18, 12, 6, 0})
            out += kB64[(n >> shift) & 63];
    }
    size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2)
            n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += rest == 2 ? kB64[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

bool base64_decode(std::string_view text, std::string& bytes)
{
    bytes.clear();
    if (text.size() % 4 != 0)
        return false;
    for (size_t i = 0; i < text.size(); i += 4) {
        uint32_t n = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; ++j) {
            char c = text[i + j];
            size_t v = kB64.find(c);
            if (c == '=' && i + 4 == text.size() && j >= 2) {
                ++pad;
                v = 0;
            } else if (v == std::string_view::npos || pad > 0) {
                return false;
            }
            n = (n << 6) | static_cast<uint32_t>(v);
        }
        bytes += static_cast<char>((n >> 16) & 0xff);
        if (pad < 2)
            bytes += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1)
            bytes += static_cast<char>(n & 0xff);
    }
    return true;
}

}  // namespace kv::dump
