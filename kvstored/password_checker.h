// password_checker.h: password checks in processes of their own (issue 18).
//
// yescrypt is memory-hard on purpose: every check maps, fills and unmaps
// 16 MiB (at libcrypt's default cost). Run on a thread of kvstored, the
// checks cost the event loop's clients more than the core time they took
// (the likely why: their page faults and the unmapping's TLB flushes land
// on the process whose loop serves the clients): a storm's checks at
// SCHED_IDLE doubled the clients' p99 against the same checks in a process
// of their own (bench/README.md, "Auth storm"). So the checks run in
// helpers: kvstored itself, executed again (as OpenSSH's sshd re-executes
// itself for its privilege-separated parts) with kArg as its only
// argument, under the name the caller gives (ps, top). A helper holds
// nothing but the hash and the password it is sent, one check at a time,
// and wipes both once it has answered; it closes every descriptor it
// inherits beyond stdin, stdout and stderr, writes no core, and dies with
// kvstored (PR_SET_PDEATHSIG). auth_worker.h decides which checks it runs
// and when.
//
// The wire, on the helper's stdin and stdout (two pipes): a RequestHeader,
// the hash, the password; the answer is one byte, kMatch or kNoMatch. One
// request at a time, at most PIPE_BUF bytes: it goes whole into the empty
// pipe, and a non-blocking write never blocks the loop.
#pragma once

#include <limits.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fd.h"
#include "users.h"

namespace kv::password_checker {

// argv[1] of a helper: main() hands the process to serve().
constexpr const char* kArg = "--password-checker";

struct RequestHeader {
    uint32_t hash_size;
    uint32_t password_size;
};
static_assert(sizeof(RequestHeader) + users::kMaxHash + users::kMaxPassword <= PIPE_BUF,
              "a request must fit one atomic pipe write");

constexpr char kMatch = '1';
constexpr char kNoMatch = '0';

// The helper's main: answers checks from fd 0 on fd 1 until fd 0 ends
// (returns 0), or the parent sends something malformed (returns 1, saying
// why on stderr). `name` becomes its comm (ps, top).
int serve(const char* name);

// kvstored's handle on one helper. Loop thread only.
class Process {
public:
    // Starts one: posix_spawn of /proc/self/exe, argv[0] `name`, with the
    // signal mask cleared and every signal's disposition at its default.
    // Throws std::runtime_error naming the call and the errno text.
    explicit Process(const char* name);
    // end()s it.
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    // Readable once it answered, or ended. Non-blocking.
    int answers() const { return from_.get(); }

    // Sends one check. False when it cannot take it (it has ended).
    bool send(std::string_view hash, std::string_view password);

    enum class Answer { Match, NoMatch, NotYet, Ended };
    Answer read_answer();
    // Kills it if it still runs (SIGKILL: a check it is running is not
    // waited for), reaps it if it has exited, and says how it ended, for
    // the log ("exited with status 1", "killed by signal 9", "still
    // exiting"). Never blocks: one still exiting is reaped later.
    std::string end();

    // Reaps the helpers end() left still exiting, those that have exited.
    static void reap_dying();

private:
    // Helpers killed but not yet reaped (loop thread only).
    static std::vector<pid_t>& dying();

    pid_t pid_ = 0;
    UniqueFd to_;  // its stdin
    UniqueFd from_;  // its stdout
};

}  // namespace kv::password_checker
