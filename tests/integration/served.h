// served.h: the usual integration setup, a kvstored on a temporary socket and
// one kvsvc on a socketpair whose greeting has been read.
//
// kvsvc on a socketpair hands its client's socket to kvstored after `connect`
// (stdin and stdout are one socket); kvsvc_args {"--no-handoff"} keeps it
// relaying every command instead.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "kvstore.h"

namespace kvtest {

using Lines = std::vector<std::string>;

inline const std::string kNotConnected = "ERR not-connected send 'connect' first";

struct Served {
    TempDir dir;
    Daemon daemon;
    KvsvcSession session;

    explicit Served(std::vector<std::string> daemon_args = {"--capacity", "100"},
                    std::vector<std::string> kvsvc_args = {})
        : daemon(dir, std::move(daemon_args)), session(spawn_kvsvc(daemon.socket_path(), std::move(kvsvc_args)))
    {
        REQUIRE(client().read_line() == greeting());
    }

    LineClient& client() { return session.client; }

    // Sends "connect" and requires "OK connected".
    LineClient& connected()
    {
        REQUIRE(client().ask("connect") == "OK connected");
        return client();
    }
};

}  // namespace kvtest
