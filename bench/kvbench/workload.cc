// workload.cc: see workload.h.
#include "workload.h"

namespace kvbench {

Workload::Workload(const Options& o)
    : limit_(o.requests),
      rng_(o.seed),
      keys_(o.keys),
      set_weight_(o.set_weight),
      total_weight_(o.set_weight + o.get_weight),
      sequential_(o.fill),
      key_buf_(o.key_size, '0'),
      key_list_(o.key_list)
{
    key_buf_.replace(0, 4, "key.");
    value_.reserve(o.value_size);
    for (unsigned i = 0; i < o.value_size; ++i)
        value_.push_back(static_cast<char>('a' + i % 26));
}

// splitmix64: tiny, fast and good enough to spread keys uniformly.
uint64_t Workload::random()
{
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::optional<Request> Workload::next()
{
    if (exhausted())
        return std::nullopt;
    uint64_t i = issued_++;
    Op op = i % total_weight_ < set_weight_ ? Op::Set : Op::Get;
    uint32_t key = sequential_ ? static_cast<uint32_t>(i % keys_)
                               : static_cast<uint32_t>(((random() >> 32) * uint64_t{keys_}) >> 32);
    return Request{op, key};
}

std::string_view Workload::key_text(uint32_t k)
{
    if (!key_list_.empty())
        return key_list_[k];
    for (size_t pos = key_buf_.size(); pos > 4; --pos) {
        key_buf_[pos - 1] = static_cast<char>('0' + k % 10);
        k /= 10;
    }
    return key_buf_;
}

}  // namespace kvbench
