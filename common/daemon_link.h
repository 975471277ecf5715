// daemon_link.h: the client side of a connection to kvstored, used by kvsvc
// (its upstream) and by the admin subcommands of kvstored.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "fd.h"
#include "wire.h"

namespace kv {

class DaemonLink {
public:
    // Connects to kvstored at `path` and exchanges Hello/Welcome, waiting at
    // most `timeout`. Returns "" on success, else why not, in words for the
    // client ("cannot reach kvstored at ...: No such file or directory").
    std::string attach(const std::string& path, std::string_view client_address, std::chrono::milliseconds timeout);
    // The two halves of attach(), for a caller that keeps working while the
    // Welcome is on its way (kvsvc sends its first requests right behind the
    // Hello). open() connects and queues the Hello; welcome() reads the first
    // frame kvstored sends: "" for a Welcome, else why the link was refused.
    std::string open(const std::string& path, std::string_view client_address);
    // open(), then the Hello with kHelloHandoff and `m` in one message, with
    // the client's socket `fd` and the claim token `claim_fd` attached
    // (wire.h). `handed_off` says whether that message went out; if it could
    // not, nothing was sent and a plain Hello is queued, as by open().
    // `flags` are added to the Hello's kHelloHandoff (kHelloRedis or
    // kHelloMemcache: kvsvc --protocol redis or memcache, which detaches when
    // `handed_off` is false).
    std::string open_handing_off(const std::string& path, std::string_view client_address, const wire::Handoff& m,
                                 int fd, int claim_fd, bool& handed_off, uint8_t flags = 0);
    std::string welcome(const wire::Frame& frame);
    void detach();

    bool attached() const { return static_cast<bool>(fd_); }
    // errno of the connect() that made attach() fail, 0 if it failed later.
    int connect_errno() const { return connect_errno_; }
    int fd() const { return fd_.get(); }
    uint32_t max_value() const { return max_value_; }

    void send(const wire::Request& req) { wire::append(out_, req); }
    // Sends a Handoff frame with `fd` attached as SCM_RIGHTS, once everything
    // queued before it has been written (Retry until then).
    enum class FdSend { Sent, Retry, Failed };
    FdSend send_handoff(const wire::Handoff& m, int fd);
    bool wants_write() const { return !out_.empty(); }
    // Writes what the socket takes now. False when the connection is broken.
    bool flush();
    // Reads what is there. False on end-of-file or error.
    bool read();
    wire::FrameBuffer::Next next(wire::Frame& frame) { return in_.next(frame); }

private:
    std::string handshake(std::chrono::milliseconds timeout);
    std::string connect_to(const std::string& path);
    void queue_hello(std::string_view client_address, uint8_t flags);
    FdSend send_with_fds(const wire::Handoff& m, int fd, int claim_fd);

    UniqueFd fd_;
    int connect_errno_ = 0;
    uint32_t max_value_ = 0;
    wire::FrameBuffer in_;
    std::string out_;
};

}  // namespace kv
