// workload.h: the request stream, identical for every protocol so that their
// figures compare: which operation, on which key, with which value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "options.h"

namespace kvbench {

enum class Op : uint8_t {
    Set,
    Get,
    Handshake,  // kv's 'connect': not part of the stream, never counted as a request
};

struct Request {
    Op op;
    uint32_t key;  // key number, 0..keys-1
};

class Workload {
public:
    explicit Workload(const Options& o);

    // The next request, or nothing once the --requests (or --fill) limit has
    // been handed out.
    std::optional<Request> next();
    bool exhausted() const { return limit_ != 0 && issued_ >= limit_; }
    uint64_t issued() const { return issued_; }

    // The text of key number k ("key." + zero-padded digits, key_size bytes,
    // or line k of --key-file). Valid until the next call.
    std::string_view key_text(uint32_t k);
    std::string_view value() const { return value_; }

private:
    uint64_t random();

    uint64_t limit_;  // 0: unlimited
    uint64_t issued_ = 0;
    uint64_t rng_;
    uint32_t keys_;
    unsigned set_weight_;
    unsigned total_weight_;
    bool sequential_;  // --fill: keys in order
    std::string key_buf_;
    std::vector<std::string> key_list_;  // --key-file
    std::string value_;
};

}  // namespace kvbench
