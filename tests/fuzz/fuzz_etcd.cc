// fuzz_etcd.cc: libFuzzer target for what kvstored reads from etcd's JSON
// gateway (kvstored/backends/etcd/etcd_wire.h): parse_watch, parse_txn,
// parse_range, parse_lease, parse_status, parse_error, and decode_value on
// the bytes stored under P/k/. Whoever answers on an etcd endpoint, or has
// write access to the prefix, controls these bytes; none may crash or throw.
//
// The whole input goes to every parser (the seeds are real gateway bodies, so
// each seed exercises its own parser deeply and the others' rejection paths).
// Invariants beyond "no crash":
//  - a parser that fails says why; a body parse_error accepts is refused by
//    the others, which also say why;
//  - every decoded key and value survives base64 and encode_value round trips;
//  - decode_value accepts exactly the inputs encode_value can make.
#include <string>
#include <string_view>

#include "backends/etcd/etcd_wire.h"
#include "fuzz_check.h"

namespace {

namespace etcd = kv::etcd;
using kvfuzz::require;

void check_bytes(const std::string& bytes)
{
    require(etcd::base64_decode(etcd::base64_encode(bytes)) == bytes, "base64 round trip of a decoded field");
}

void check_kv(const etcd::KeyValue& kv)
{
    check_bytes(kv.key);
    check_bytes(kv.value);
}

void check_range(const etcd::RangeResult& r)
{
    for (const etcd::KeyValue& kv : r.kvs)
        check_kv(kv);
}

void check_value(std::string_view stored)
{
    std::string value;
    int64_t deadline = -1;
    uint32_t flags = 0;
    bool ok = etcd::decode_value(stored, value, deadline, flags);
    bool looks_encoded
        = stored.size() >= 14 && stored[0] == 'K' && stored[1] == 1 && stored[12] == 0 && stored[13] == 0;
    require(ok == looks_encoded, "decode_value accepts exactly the 14-byte header encode_value writes");
    if (!ok)
        return;
    require(deadline >= 0 && deadline < (int64_t{1} << 48), "a decoded deadline fits 48 bits");
    require(etcd::encode_value(value, deadline, flags) == stored, "decode_value then encode_value gives the input");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view body(reinterpret_cast<const char*>(data), size);

    etcd::Error error;
    bool is_error = etcd::parse_error(body, error);

    std::string why;
    etcd::WatchMessage watch;
    if (etcd::parse_watch(body, watch, why)) {
        require(!is_error, "parse_watch refuses an error body");
        for (const etcd::Event& e : watch.events)
            check_kv(e.kv);
    } else {
        require(!why.empty(), "parse_watch says why it failed");
    }

    why.clear();
    etcd::TxnResult txn;
    if (etcd::parse_txn(body, txn, why)) {
        require(!is_error, "parse_txn refuses an error body");
        for (const etcd::RangeResult& r : txn.ranges)
            check_range(r);
    } else {
        require(!why.empty(), "parse_txn says why it failed");
    }

    why.clear();
    etcd::RangeResult range;
    if (etcd::parse_range(body, range, why)) {
        require(!is_error, "parse_range refuses an error body");
        check_range(range);
    } else {
        require(!why.empty(), "parse_range says why it failed");
    }

    why.clear();
    etcd::LeaseResult lease;
    require(etcd::parse_lease(body, lease, why) || !why.empty(), "parse_lease says why it failed");
    why.clear();
    etcd::StatusResult status;
    require(etcd::parse_status(body, status, why) || !why.empty(), "parse_status says why it failed");

    check_value(body);
    // Stored values arrive base64-encoded inside the JSON: decode the input as
    // such too, and give decode_value what comes out.
    if (auto bytes = etcd::base64_decode(body)) {
        check_value(*bytes);
        require(etcd::base64_encode(*bytes).size() == body.size(), "base64 re-encodes to the same length");
    }
    if (auto n = etcd::parse_count(body))
        require(etcd::parse_count(etcd::count_text(*n)) == n, "count_text round trip");
    return 0;
}
