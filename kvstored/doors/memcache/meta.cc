// meta.cc: TEMPORARY STUB on branch mc-b only, so that execute()'s table
// links before helper C's meta commands are merged. The lead replaces this
// file with C's meta.cc; nothing here is meant to survive the merge.
#include "handlers.h"

namespace kv::memcache {
namespace {

uint64_t stub(std::string& out)
{
    out += "ERROR\r\n";
    return 0;
}

}  // namespace

uint64_t meta_get(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}
uint64_t meta_set(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}
uint64_t meta_delete(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}
uint64_t meta_arithmetic(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}
uint64_t meta_noop(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}
uint64_t meta_debug(const Request&, Session&, Context&, std::string& out)
{
    return stub(out);
}

}  // namespace kv::memcache
