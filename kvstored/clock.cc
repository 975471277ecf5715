// clock.cc: see clock.h.
#include "clock.h"

#include <ctime>

namespace kv {
namespace {

class SystemClock final : public Clock {
public:
    int64_t now_ms() const override
    {
        timespec t;
        ::clock_gettime(CLOCK_REALTIME, &t);  // cannot fail for this clock id
        return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1'000'000;
    }
    int64_t coarse_now_ms() const override
    {
        timespec t;
        ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
        return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1'000'000;
    }
};

}  // namespace

const Clock& system_clock()
{
    static const SystemClock clock;
    return clock;
}

}  // namespace kv
