// tls.h: TLS on the client's socket, for kvsvc-tls (kvsvc linked with
// OpenSSL; kvsvc/CMakeLists.txt says why that is a second program).
//
// xinetd gives kvsvc-tls the client's TCP socket on fds 0, 1 and 2, as it
// gives kvsvc. Nothing is said in clear: the TLS handshake comes first,
// bounded by a deadline. Then the session runs as in kvsvc, on one end of a
// socketpair that is put on fds 0, 1 and 2, while a second thread copies
// between the other end and TLS on the TCP socket. This kernel has no kernel
// TLS, so the TCP socket itself can never go to kvstored; the socketpair can,
// as stunnel's did (the handoff of kvsvc, unless --no-handoff).
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace kv {

struct TlsOptions {
    std::string cert_file;  // PEM: the server's certificate, then any intermediates
    std::string key_file;  // PEM, no passphrase
    std::string ca_file;  // clients must present a certificate this CA signed; "" = no client certificates
    std::string ciphers;  // TLS 1.2 cipher list (OpenSSL syntax); "" = OpenSSL's default
    std::chrono::seconds handshake_timeout{10};
    // Started as root, become this user (and its primary group, no other
    // groups) once the certificate and key are read, before anything is read
    // from the client: the key can stay readable by root only. "" = stay.
    std::string user;
};

// Loads the certificate and key, does the handshake on fd 0, then runs
// `session` with the plaintext on fds 0, 1 and 2 and returns its status once
// the client's connection is closed (close_notify, or a reset when the session
// reset it). A failed load or handshake is logged (syslog) with the OpenSSL
// error text and ends the connection: `session` never runs.
int serve_over_tls(const TlsOptions& options, const std::string& client_address, const std::function<int()>& session);

}  // namespace kv
