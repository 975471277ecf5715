// clock.h: TEMP shim of the STORE helper's clock (BRIEF-14); replaced by theirs.
#pragma once

#include <chrono>
#include <cstdint>

namespace kv {

class Clock {
public:
    virtual ~Clock() = default;
    virtual int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
public:
    int64_t now_ms() const override
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

inline const Clock& system_clock()
{
    static const SystemClock clock;
    return clock;
}

class ManualClock final : public Clock {
public:
    explicit ManualClock(int64_t now_ms = 1'800'000'000'000) : now_(now_ms) { }
    int64_t now_ms() const override { return now_; }
    void set(int64_t ms) { now_ = ms; }
    void advance(int64_t ms) { now_ += ms; }

private:
    int64_t now_;
};

}  // namespace kv
