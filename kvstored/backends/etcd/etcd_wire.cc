// etcd_wire.cc: see etcd_wire.h.
//
// Every parser here reads bytes etcd (or whatever answers on its port) sent,
// so none may throw: the JSON is parsed with exceptions off, and every field
// is read through the get_* helpers below, which check its type first and say
// which field was wrong.
#include "backends/etcd/etcd_wire.h"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cstdio>
#include <limits>
#include <type_traits>

namespace kv::etcd {
namespace {

using nlohmann::json;

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kHeaderSize = 14;
constexpr int64_t kMaxDeadline = (int64_t{1} << 48) - 1;

// The gateway writes 64-bit integers as decimal strings, but a number is
// accepted too (another gateway version, or a hand-written body).
bool json_int64(const json& v, int64_t& out)
{
    if (v.is_number_integer() && !v.is_number_unsigned()) {
        out = v.get<int64_t>();
        return true;
    }
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return false;
        out = static_cast<int64_t>(u);
        return true;
    }
    if (!v.is_string())
        return false;
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty() || s[0] == '+')
        return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// member ids and raft terms are uint64 in etcd's protos.
bool json_uint64(const json& v, uint64_t& out)
{
    if (v.is_number_unsigned()) {
        out = v.get<uint64_t>();
        return true;
    }
    if (v.is_number_integer()) {
        int64_t i = v.get<int64_t>();
        if (i < 0)
            return false;
        out = static_cast<uint64_t>(i);
        return true;
    }
    if (!v.is_string())
        return false;
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty() || s[0] < '0' || s[0] > '9')
        return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// get_*(obj, name, out, why): an absent (or null) field leaves `out` at its
// zero value, as the gateway omits zero values; a field of the wrong type is
// an error naming it.
template <typename T> bool get_number(const json& obj, const char* name, T& out, std::string& why)
{
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null())
        return true;
    // Into a temporary: from_chars may have written part of a bad number.
    T value{};
    bool ok;
    if constexpr (std::is_same_v<T, int64_t>)
        ok = json_int64(*it, value);
    else
        ok = json_uint64(*it, value);
    if (!ok) {
        why = std::string("\"") + name + "\" is not a 64-bit integer";
        return false;
    }
    out = value;
    return true;
}

bool get_bool(const json& obj, const char* name, bool& out, std::string& why)
{
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null())
        return true;
    if (!it->is_boolean()) {
        why = std::string("\"") + name + "\" is not a boolean";
        return false;
    }
    out = it->get<bool>();
    return true;
}

bool get_string(const json& obj, const char* name, std::string& out, std::string& why)
{
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null())
        return true;
    if (!it->is_string()) {
        why = std::string("\"") + name + "\" is not a string";
        return false;
    }
    out = it->get<std::string>();
    return true;
}

// A base64 field, decoded.
bool get_bytes(const json& obj, const char* name, std::string& out, std::string& why)
{
    std::string text;
    if (!get_string(obj, name, text, why))
        return false;
    auto bytes = base64_decode(text);
    if (!bytes) {
        why = std::string("\"") + name + "\" is not base64";
        return false;
    }
    out = std::move(*bytes);
    return true;
}

// An object-valued field; nullptr (and true) when absent.
bool get_object(const json& obj, const char* name, const json*& out, std::string& why)
{
    out = nullptr;
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null())
        return true;
    if (!it->is_object()) {
        why = std::string("\"") + name + "\" is not an object";
        return false;
    }
    out = &*it;
    return true;
}

bool get_array(const json& obj, const char* name, const json*& out, std::string& why)
{
    out = nullptr;
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null())
        return true;
    if (!it->is_array()) {
        why = std::string("\"") + name + "\" is not an array";
        return false;
    }
    out = &*it;
    return true;
}

// Parses `body` as one JSON object; false (with `why`) when it is not one.
bool parse_object(std::string_view body, json& out, std::string& why)
{
    out = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (out.is_discarded()) {
        why = "not valid JSON";
        return false;
    }
    if (!out.is_object()) {
        why = "not a JSON object";
        return false;
    }
    return true;
}

// A body that is an error says so, rather than "field missing".
bool reject_error(const json& obj, std::string& why)
{
    auto it = obj.find("error");
    if (it == obj.end() || it->is_null())
        return false;
    Error e;
    std::string text = obj.dump(-1, ' ', false, json::error_handler_t::replace);
    if (parse_error(text, e))
        why = "etcd error " + std::to_string(e.code) + ": " + e.message;
    else
        why = "an error body";
    return true;
}

bool parse_header(const json& obj, Header& out, std::string& why)
{
    const json* h = nullptr;
    if (!get_object(obj, "header", h, why))
        return false;
    out = Header{};
    if (h == nullptr)
        return true;
    if (!get_number(*h, "revision", out.revision, why) || !get_number(*h, "member_id", out.member_id, why)
        || !get_number(*h, "raft_term", out.raft_term, why)) {
        why = "header: " + why;
        return false;
    }
    return true;
}

bool parse_kv(const json& obj, KeyValue& out, std::string& why)
{
    out = KeyValue{};
    if (!obj.is_object()) {
        why = "a key-value is not an object";
        return false;
    }
    if (!get_bytes(obj, "key", out.key, why) || !get_bytes(obj, "value", out.value, why)
        || !get_number(obj, "create_revision", out.create_revision, why)
        || !get_number(obj, "mod_revision", out.mod_revision, why) || !get_number(obj, "version", out.version, why)
        || !get_number(obj, "lease", out.lease, why)) {
        why = "kv: " + why;
        return false;
    }
    return true;
}

// A RangeResponse object (top-level or inside a txn's response_range).
bool parse_range_object(const json& obj, RangeResult& out, std::string& why)
{
    out = RangeResult{};
    const json* kvs = nullptr;
    if (!parse_header(obj, out.header, why) || !get_bool(obj, "more", out.more, why)
        || !get_number(obj, "count", out.count, why) || !get_array(obj, "kvs", kvs, why))
        return false;
    if (kvs != nullptr) {
        out.kvs.reserve(kvs->size());
        for (const json& item : *kvs) {
            KeyValue kv;
            if (!parse_kv(item, kv, why))
                return false;
            out.kvs.push_back(std::move(kv));
        }
    }
    return true;
}

// The streamed messages come as {"result": {...}}; a bare object is taken
// as the result itself.
const json& unwrap_result(const json& obj)
{
    auto it = obj.find("result");
    if (it != obj.end() && it->is_object())
        return *it;
    return obj;
}

const char* target_name(Compare::Target t)
{
    switch (t) {
    case Compare::Target::Version:
        return "VERSION";
    case Compare::Target::Create:
        return "CREATE";
    case Compare::Target::Mod:
        return "MOD";
    case Compare::Target::Value:
        return "VALUE";
    }
    return "MOD";
}

const char* result_name(Compare::Result r)
{
    switch (r) {
    case Compare::Result::Equal:
        return "EQUAL";
    case Compare::Result::Greater:
        return "GREATER";
    case Compare::Result::Less:
        return "LESS";
    case Compare::Result::NotEqual:
        return "NOT_EQUAL";
    }
    return "EQUAL";
}

json compare_json(const Compare& c)
{
    json out = json::object();
    out["key"] = base64_encode(c.key);
    out["target"] = target_name(c.target);
    out["result"] = result_name(c.result);
    // The number is written even when 0: "create_revision == 0" (absent) is
    // the compare kvstored uses most, and the gateway reads "0" as 0.
    switch (c.target) {
    case Compare::Target::Version:
        out["version"] = std::to_string(c.number);
        break;
    case Compare::Target::Create:
        out["create_revision"] = std::to_string(c.number);
        break;
    case Compare::Target::Mod:
        out["mod_revision"] = std::to_string(c.number);
        break;
    case Compare::Target::Value:
        out["value"] = base64_encode(c.value);
        break;
    }
    return out;
}

json op_json(const Op& op)
{
    json req = json::object();
    req["key"] = base64_encode(op.key);
    switch (op.kind) {
    case Op::Kind::Put:
        req["value"] = base64_encode(op.value);
        if (op.lease != 0)
            req["lease"] = std::to_string(op.lease);
        return json{{"request_put", req}};
    case Op::Kind::Delete:
        return json{{"request_delete_range", req}};
    case Op::Kind::DeleteRange:
        if (!op.range_end.empty())
            req["range_end"] = base64_encode(op.range_end);
        return json{{"request_delete_range", req}};
    case Op::Kind::Range:
        if (!op.range_end.empty())
            req["range_end"] = base64_encode(op.range_end);
        if (op.limit != 0)
            req["limit"] = std::to_string(op.limit);
        if (op.keys_only)
            req["keys_only"] = true;
        if (op.newest_first) {
            req["sort_order"] = "DESCEND";
            req["sort_target"] = "MOD";
        }
        return json{{"request_range", req}};
    }
    return json{{"request_range", req}};
}

json ops_json(const std::vector<Op>& ops)
{
    json out = json::array();
    for (const Op& op : ops)
        out.push_back(op_json(op));
    return out;
}

void put_le(std::string& out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(std::string_view in, size_t at, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
        v = v << 8 | static_cast<unsigned char>(in[at + i]);
    return v;
}

}  // namespace

// --- Keys and values --------------------------------------------------------

std::string data_prefix(std::string_view prefix)
{
    return std::string(prefix) + "/k/";
}

std::string meta_key(std::string_view prefix, std::string_view name)
{
    return std::string(prefix) + "/m/" + std::string(name);
}

std::string prefix_end(std::string_view prefix)
{
    std::string end(prefix);
    while (!end.empty()) {
        auto last = static_cast<unsigned char>(end.back());
        if (last < 0xff) {
            end.back() = static_cast<char>(last + 1);
            return end;
        }
        end.pop_back();
    }
    // Every byte 0xff (or no prefix): etcd reads "\0" as "to the end".
    return std::string(1, '\0');
}

std::string encode_value(std::string_view value, int64_t deadline, uint32_t flags)
{
    // A deadline outside 48 bits cannot be a real unix-ms time; clamp rather
    // than let it wrap into a different one.
    if (deadline < 0)
        deadline = 0;
    if (deadline > kMaxDeadline)
        deadline = kMaxDeadline;
    std::string out;
    out.reserve(kHeaderSize + value.size());
    out.push_back('K');
    out.push_back('\x01');
    put_le(out, static_cast<uint64_t>(deadline), 6);
    put_le(out, flags, 4);
    put_le(out, 0, 2);
    out.append(value);
    return out;
}

bool decode_value(std::string_view stored, std::string& value, int64_t& deadline, uint32_t& flags)
{
    if (stored.size() < kHeaderSize || stored[0] != 'K' || stored[1] != '\x01' || stored[12] != 0 || stored[13] != 0)
        return false;
    deadline = static_cast<int64_t>(get_le(stored, 2, 6));
    flags = static_cast<uint32_t>(get_le(stored, 8, 4));
    value.assign(stored.substr(kHeaderSize));
    return true;
}

std::string count_text(uint64_t n)
{
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(n));
    return buf;
}

std::optional<uint64_t> parse_count(std::string_view text)
{
    // Decimal digits only (count_text writes 20; fewer are accepted, as a
    // counter someone set by hand); no sign, no space, no overflow.
    if (text.empty() || text.size() > 20)
        return std::nullopt;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return n;
}

std::string base64_encode(std::string_view bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8
            | static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(kB64[v >> 18 & 63]);
        out.push_back(kB64[v >> 12 & 63]);
        out.push_back(kB64[v >> 6 & 63]);
        out.push_back(kB64[v & 63]);
    }
    size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2)
            v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out.push_back(kB64[v >> 18 & 63]);
        out.push_back(kB64[v >> 12 & 63]);
        out.push_back(rest == 2 ? kB64[v >> 6 & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
    static const std::array<int8_t, 256> table = [] {
        std::array<int8_t, 256> t{};
        t.fill(-1);
        for (size_t i = 0; i < kB64.size(); ++i)
            t[static_cast<unsigned char>(kB64[i])] = static_cast<int8_t>(i);
        return t;
    }();
    // Padded base64 only (what the gateway writes): whole quanta of 4, with at
    // most two '=' and only at the very end.
    if (text.size() % 4 != 0)
        return std::nullopt;
    size_t pad = 0;
    if (!text.empty() && text.back() == '=')
        pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        uint32_t v = 0;
        for (size_t j = 0; j < 4; ++j) {
            char c = text[i + j];
            int8_t d = table[static_cast<unsigned char>(c)];
            if (d < 0) {
                if (!(last && c == '=' && j >= 4 - pad))
                    return std::nullopt;
                d = 0;
            }
            v = v << 6 | static_cast<uint32_t>(d);
        }
        out.push_back(static_cast<char>(v >> 16 & 0xff));
        if (!last || pad < 2)
            out.push_back(static_cast<char>(v >> 8 & 0xff));
        if (!last || pad < 1)
            out.push_back(static_cast<char>(v & 0xff));
    }
    return out;
}

// --- Requests ---------------------------------------------------------------

std::string txn_body(const Txn& txn)
{
    json body = json::object();
    json compare = json::array();
    for (const Compare& c : txn.compare)
        compare.push_back(compare_json(c));
    body["compare"] = std::move(compare);
    body["success"] = ops_json(txn.success);
    body["failure"] = ops_json(txn.failure);
    return body.dump();
}

std::string range_body(const RangeRequest& request)
{
    json body = json::object();
    body["key"] = base64_encode(request.key);
    if (!request.range_end.empty())
        body["range_end"] = base64_encode(request.range_end);
    if (request.revision != 0)
        body["revision"] = std::to_string(request.revision);
    if (request.limit != 0)
        body["limit"] = std::to_string(request.limit);
    if (request.count_only)
        body["count_only"] = true;
    if (request.keys_only)
        body["keys_only"] = true;
    if (request.serializable)
        body["serializable"] = true;
    return body.dump();
}

std::string watch_body(std::string_view key, std::string_view range_end, int64_t start_revision, bool progress_notify)
{
    json create = json::object();
    create["key"] = base64_encode(key);
    if (!range_end.empty())
        create["range_end"] = base64_encode(range_end);
    if (start_revision != 0)
        create["start_revision"] = std::to_string(start_revision);
    if (progress_notify)
        create["progress_notify"] = true;
    return json{{"create_request", create}}.dump();
}

std::string lease_grant_body(int64_t ttl_seconds)
{
    return json{{"TTL", std::to_string(ttl_seconds)}}.dump();
}

std::string lease_id_body(int64_t lease_id)
{
    return json{{"ID", std::to_string(lease_id)}}.dump();
}

std::string compaction_body(int64_t revision, bool physical)
{
    json body = json::object();
    body["revision"] = std::to_string(revision);
    if (physical)
        body["physical"] = true;
    return body.dump();
}

// --- Responses --------------------------------------------------------------

bool parse_error(std::string_view body, Error& error)
{
    json obj;
    std::string why;
    if (!parse_object(body, obj, why))
        return false;
    auto it = obj.find("error");
    if (it == obj.end() || it->is_null())
        return false;
    Error e;
    // A unary call's error: {"error": "text", "code": 14, "message": "text"}.
    // A streamed one: {"error": {"grpc_code": 14, "http_code": 503,
    // "message": "text", "http_status": "..."}}.
    const json& fields = it->is_object() ? *it : obj;
    int64_t code = 0;
    std::string ignored;
    if (fields.contains("grpc_code"))
        (void)get_number(fields, "grpc_code", code, ignored);
    else
        (void)get_number(fields, "code", code, ignored);
    if (code < std::numeric_limits<int>::min() || code > std::numeric_limits<int>::max())
        code = 0;
    e.code = static_cast<int>(code);
    (void)get_string(fields, "message", e.message, ignored);
    if (e.message.empty() && it->is_string())
        e.message = it->get<std::string>();
    if (e.message.empty() && !it->is_string() && !it->is_object())
        e.message = it->dump(-1, ' ', false, json::error_handler_t::replace);
    error = std::move(e);
    return true;
}

bool parse_range(std::string_view body, RangeResult& out, std::string& why)
{
    json obj;
    if (!parse_object(body, obj, why) || reject_error(obj, why))
        return false;
    RangeResult r;
    if (!parse_range_object(obj, r, why))
        return false;
    out = std::move(r);
    return true;
}

bool parse_txn(std::string_view body, TxnResult& out, std::string& why)
{
    json obj;
    if (!parse_object(body, obj, why) || reject_error(obj, why))
        return false;
    TxnResult t;
    const json* responses = nullptr;
    if (!parse_header(obj, t.header, why) || !get_bool(obj, "succeeded", t.succeeded, why)
        || !get_array(obj, "responses", responses, why))
        return false;
    if (responses != nullptr) {
        t.ranges.reserve(responses->size());
        for (const json& item : *responses) {
            if (!item.is_object()) {
                why = "a txn response is not an object";
                return false;
            }
            const json* range = nullptr;
            if (!get_object(item, "response_range", range, why))
                return false;
            RangeResult r;
            if (range != nullptr && !parse_range_object(*range, r, why)) {
                why = "response_range: " + why;
                return false;
            }
            t.ranges.push_back(std::move(r));
        }
    }
    out = std::move(t);
    return true;
}

bool parse_watch(std::string_view body, WatchMessage& out, std::string& why)
{
    json obj;
    if (!parse_object(body, obj, why) || reject_error(obj, why))
        return false;
    const json& r = unwrap_result(obj);
    WatchMessage m;
    const json* events = nullptr;
    if (!parse_header(r, m.header, why) || !get_number(r, "watch_id", m.watch_id, why)
        || !get_bool(r, "created", m.created, why) || !get_bool(r, "canceled", m.canceled, why)
        || !get_number(r, "compact_revision", m.compact_revision, why)
        || !get_string(r, "cancel_reason", m.cancel_reason, why) || !get_array(r, "events", events, why))
        return false;
    if (events != nullptr) {
        m.events.reserve(events->size());
        for (const json& item : *events) {
            if (!item.is_object()) {
                why = "a watch event is not an object";
                return false;
            }
            Event e;
            // PUT is the enum's zero value, so the gateway leaves "type" out.
            std::string type;
            if (!get_string(item, "type", type, why))
                return false;
            if (type.empty() || type == "PUT") {
                e.type = Event::Type::Put;
            } else if (type == "DELETE") {
                e.type = Event::Type::Delete;
            } else {
                why = "unknown watch event type \"" + type + "\"";
                return false;
            }
            const json* kv = nullptr;
            if (!get_object(item, "kv", kv, why))
                return false;
            if (kv == nullptr) {
                why = "a watch event without \"kv\"";
                return false;
            }
            if (!parse_kv(*kv, e.kv, why))
                return false;
            m.events.push_back(std::move(e));
        }
    }
    out = std::move(m);
    return true;
}

bool parse_lease(std::string_view body, LeaseResult& out, std::string& why)
{
    json obj;
    if (!parse_object(body, obj, why) || reject_error(obj, why))
        return false;
    // A keepalive answers as a stream: {"result": {...}}.
    const json& r = unwrap_result(obj);
    LeaseResult l;
    if (!parse_header(r, l.header, why) || !get_number(r, "ID", l.id, why) || !get_number(r, "TTL", l.ttl, why))
        return false;
    // LeaseGrantResponse carries its own failure as a string.
    std::string failure;
    if (!get_string(r, "error", failure, why))
        return false;
    if (!failure.empty()) {
        why = "lease: " + failure;
        return false;
    }
    out = l;
    return true;
}

bool parse_status(std::string_view body, StatusResult& out, std::string& why)
{
    json obj;
    if (!parse_object(body, obj, why) || reject_error(obj, why))
        return false;
    StatusResult s;
    if (!parse_header(obj, s.header, why) || !get_number(obj, "leader", s.leader, why)
        || !get_string(obj, "version", s.version, why))
        return false;
    out = std::move(s);
    return true;
}

}  // namespace kv::etcd
