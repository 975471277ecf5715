// address.cc: see address.h.
#include "address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace kvbench {
namespace {

bool is_loopback(const sockaddr_storage& ss)
{
    if (ss.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
        return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6) && in6.s6_addr[12] == 127;
    }
    return false;
}

std::string to_text(const sockaddr_storage& ss, uint16_t port)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(port);
    }
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, host, sizeof host);
    // Appended, not "[" + std::string(host) + ...: GCC 12 -O3 warns falsely
    // about that operator+ (-Wrestrict in basic_string::_M_replace).
    std::string text = "[";
    text += host;
    text += "]:";
    text += std::to_string(port);
    return text;
}

}  // namespace

Address resolve(const std::string& host, uint16_t port, bool allow_remote)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
        throw std::runtime_error("resolve " + host + ": " + ::gai_strerror(rc));
    Address a;
    std::memcpy(&a.addr, found->ai_addr, found->ai_addrlen);
    a.len = found->ai_addrlen;
    ::freeaddrinfo(found);
    a.text = to_text(a.addr, port);
    if (!allow_remote && !is_loopback(a.addr))
        throw std::runtime_error("refusing " + host + " (" + a.text
                                 + "): not a loopback address; pass --allow-remote to benchmark another host");
    return a;
}

}  // namespace kvbench
