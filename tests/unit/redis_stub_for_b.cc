// TEMPORARY (helper B, issue 15): ReplyWriter's encoding and Session's
// destructor, so that test_redis_strings/test_redis_keys link before resp.cc
// (helper A) and transactions.cc (helper C) exist. The lead deletes this
// file, and its line in tests/CMakeLists.txt, at the merge.
#include <cstdio>

#include "doors/redis/redis_commands.h"

namespace kv::redis {

struct WatchState { };
Session::~Session() = default;

void ReplyWriter::simple(std::string_view text)
{
    out_.append("+").append(text).append("\r\n");
}

void ReplyWriter::error(std::string_view message)
{
    std::string m(message);
    for (char& c : m)
        if (c == '\r' || c == '\n')
            c = ' ';
    out_.append("-").append(m).append("\r\n");
}

void ReplyWriter::integer(long long value)
{
    out_.append(":").append(std::to_string(value)).append("\r\n");
}

void ReplyWriter::bulk(std::string_view bytes)
{
    out_.append("$").append(std::to_string(bytes.size())).append("\r\n").append(bytes).append("\r\n");
}

void ReplyWriter::null()
{
    out_.append(protocol_ == 3 ? "_\r\n" : "$-1\r\n");
}

void ReplyWriter::null_array()
{
    out_.append(protocol_ == 3 ? "_\r\n" : "*-1\r\n");
}

void ReplyWriter::array(size_t n)
{
    out_.append("*").append(std::to_string(n)).append("\r\n");
}

void ReplyWriter::map(size_t pairs)
{
    if (protocol_ == 3)
        out_.append("%").append(std::to_string(pairs)).append("\r\n");
    else
        array(pairs * 2);
}

void ReplyWriter::set(size_t n)
{
    out_.append(protocol_ == 3 ? "~" : "*").append(std::to_string(n)).append("\r\n");
}

void ReplyWriter::push(size_t n)
{
    out_.append(protocol_ == 3 ? ">" : "*").append(std::to_string(n)).append("\r\n");
}

void ReplyWriter::double_value(double value)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    if (protocol_ == 3)
        out_.append(",").append(buf).append("\r\n");
    else
        bulk(buf);
}

void ReplyWriter::boolean(bool value)
{
    if (protocol_ == 3)
        out_.append(value ? "#t\r\n" : "#f\r\n");
    else
        integer(value ? 1 : 0);
}

void ReplyWriter::verbatim(std::string_view text)
{
    if (protocol_ == 3)
        out_.append("=").append(std::to_string(text.size() + 4)).append("\r\ntxt:").append(text).append("\r\n");
    else
        bulk(text);
}

}  // namespace kv::redis

namespace redis_test {

kv::redis::Session& session()
{
    static kv::redis::Session s;
    return s;
}

}  // namespace redis_test
