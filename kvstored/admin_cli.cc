// admin_cli.cc: see admin_cli.h. Each subcommand opens the admin socket,
// sends wire requests and prints what comes back; every failure becomes one
// line on stderr that names the subcommand and says what to do.
#include "admin_cli.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "clock.h"
#include "command.h"
#include "daemon_link.h"
#include "fd.h"
#include "prometheus.h"

namespace kv::admin {
namespace {

using Clock = std::chrono::steady_clock;

struct Failure {
    int code;
    std::string message;
};

std::string user_name(uid_t uid)
{
    if (passwd* pw = ::getpwuid(uid))
        return pw->pw_name;
    return "uid " + std::to_string(uid);
}

// Why connecting to `path` failed with EACCES, and what would work.
std::string access_hint(const std::string& path)
{
    struct stat st;
    if (::stat(path.c_str(), &st) < 0)
        return "permission denied on the directory of " + path + ": run as root or as the user kvstored runs as";
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    std::string owner = user_name(st.st_uid);
    std::string who = owner == "root" ? "as root" : "as root or as " + owner;
    // Mode 0660: kvstored runs with --admin-group, whose members get in.
    if (st.st_mode & S_IWGRP) {
        const struct group* g = ::getgrgid(st.st_gid);
        std::string name = g ? g->gr_name : std::to_string(st.st_gid);
        return "permission denied on " + path + " (owner " + owner + ", group " + name + ", mode " + mode
            + "): run as root or as a member of the group " + name;
    }
    return "permission denied on " + path + " (owner " + owner + ", mode " + mode + "): run " + who;
}

// One connection to the admin socket.
class AdminLink {
public:
    explicit AdminLink(const Target& t) : timeout_(t.timeout)
    {
        // No client address: an admin session has none, and the Hello carries
        // our pid (a made-up "admin pid N" came out as admin?pid?N in logs).
        std::string why = link_.attach(t.admin_socket, "", t.timeout);
        if (why.empty())
            return;
        int e = link_.connect_errno();
        if (e == ENOENT || e == ECONNREFUSED)
            throw Failure{kExitNotRunning, "kvstored is not running (nothing listens on " + t.admin_socket + ")"};
        if (e == EACCES)
            throw Failure{kExitError, access_hint(t.admin_socket)};
        throw Failure{kExitError, why};
    }

    uint32_t max_value() const { return link_.max_value(); }
    void send(const wire::Request& req) { link_.send(req); }

    // The next whole reply, however many chunks it came in.
    std::string next_reply()
    {
        std::string text;
        while (next_chunk(text)) { }
        return text;
    }

    // Appends the next chunk of a reply to `text`; false once that was its
    // last chunk.
    bool next_chunk(std::string& text)
    {
        auto deadline = Clock::now() + timeout_;
        for (;;) {
            wire::Frame frame;
            auto next = link_.next(frame);
            if (next == wire::FrameBuffer::Next::Oversized)
                throw Failure{kExitError, "protocol error: oversized frame from kvstored"};
            if (next == wire::FrameBuffer::Next::Frame) {
                wire::Reply reply;
                wire::Notice notice;
                if (frame.type == wire::Msg::Reply && wire::decode(frame.payload, reply)) {
                    text.append(reply.text);
                    return reply.flags & wire::kReplyMore;
                }
                if (frame.type == wire::Msg::Shutdown && wire::decode(frame.payload, notice))
                    throw Failure{kExitError, "kvstored is shutting down (" + std::string(notice.text) + ")"};
                throw Failure{kExitError, "protocol error: unexpected message from kvstored"};
            }
            wait(deadline);
        }
    }

    std::string call(const wire::Request& req)
    {
        send(req);
        return next_reply();
    }

private:
    void wait(Clock::time_point deadline)
    {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            throw Failure{kExitError, "kvstored did not answer within " + std::to_string(timeout_.count()) + " ms"};
        if (!link_.flush())
            throw Failure{kExitError, "kvstored closed the connection"};
        pollfd p{link_.fd(), static_cast<short>(POLLIN | (link_.wants_write() ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, static_cast<int>(left)) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && !link_.read())
            throw Failure{kExitError, "kvstored closed the connection"};
    }

    DaemonLink link_;
    std::chrono::milliseconds timeout_;
};

// "ERR <code> <message>" becomes a failure saying "<code> <message>", e.g.
// "full 10000/10000 entries"; anything else is returned.
std::string expect_ok(std::string reply)
{
    if (reply.rfind("ERR ", 0) == 0) {
        reply.pop_back();
        throw Failure{kExitError, reply.substr(4)};
    }
    return reply;
}

// The lines of a "<WORD> <n>" block, header checked and stripped.
std::vector<std::string> block(const std::string& reply, const std::string& word)
{
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < reply.size()) {
        size_t lf = reply.find('\n', pos);
        if (lf == std::string::npos)
            lf = reply.size();
        lines.push_back(reply.substr(pos, lf - pos));
        pos = lf + 1;
    }
    if (lines.empty() || lines[0] != word + " " + std::to_string(lines.size() - 1))
        throw Failure{kExitError,
                      "protocol error: expected a " + word + " block, got '" + (lines.empty() ? "" : lines[0]) + "'"};
    lines.erase(lines.begin());
    return lines;
}

// The page header "<word> <n>" or "<word> <n> more" (docs/protocol.md): n, and
// whether another page follows. An ERR reply becomes a failure.
std::pair<size_t, bool> page_header(const std::string& line, const std::string& word)
{
    if (line.rfind("ERR ", 0) == 0)
        throw Failure{kExitError, line.substr(4)};
    std::string rest = line.rfind(word + " ", 0) == 0 ? line.substr(word.size() + 1) : "";
    bool more = rest.ends_with(" more");
    if (more)
        rest.resize(rest.size() - 5);
    if (rest.empty() || rest.size() > 9 || rest.find_first_not_of("0123456789") != std::string::npos)
        throw Failure{kExitError, "protocol error: expected a " + word + " page, got '" + line + "'"};
    return {std::stoul(rest), more};
}

// Sends `req` and passes each entry line of its paged listing to `entry` as
// the pages arrive, so that a listing of any length needs memory for one
// chunk of it only.
template <typename Entry>
void read_listing(AdminLink& link, const wire::Request& req, const std::string& word, Entry&& entry)
{
    link.send(req);
    std::string text;  // received, not yet parsed
    bool reply_more = true;  // more chunks of the reply follow
    size_t left = 0;  // entry lines left in the current page
    bool in_page = false, last_page = false;
    for (;;) {
        size_t pos = 0;
        for (size_t lf; !(last_page && !in_page) && (lf = text.find('\n', pos)) != std::string::npos; pos = lf + 1) {
            std::string line = text.substr(pos, lf - pos);
            if (in_page) {
                entry(line);
                --left;
            } else {
                auto [n, more] = page_header(line, word);
                left = n;
                last_page = !more;
            }
            in_page = left > 0;
        }
        text.erase(0, pos);
        if (last_page && !in_page) {
            if (!text.empty() || reply_more)
                throw Failure{kExitError, "protocol error: text after the last " + word + " page"};
            return;
        }
        if (!reply_more)
            throw Failure{kExitError, "protocol error: the " + word + " listing ended before its last page"};
        reply_more = link.next_chunk(text);
    }
}

std::pair<std::string, std::string> split_first(const std::string& line)
{
    size_t sp = line.find(' ');
    if (sp == std::string::npos)
        return {line, ""};
    return {line.substr(0, sp), line.substr(sp + 1)};
}

bool is_number(const std::string& s)
{
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Runs a subcommand body, turning failures into "kvstored <name>: <message>".
template <typename Body> int guarded(const char* name, Body body)
{
    try {
        return body();
    } catch (const Failure& f) {
        std::fprintf(stderr, "kvstored %s: %s\n", name, f.message.c_str());
        return f.code;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvstored %s: %s\n", name, e.what());
        return kExitError;
    }
}

std::map<std::string, std::string> status_rows(AdminLink& link)
{
    std::map<std::string, std::string> rows;
    for (const auto& line : block(expect_ok(link.call({wire::Op::Status, {}, {}})), "STATUS"))
        rows.insert(split_first(line));
    return rows;
}

// Gone, or a zombie its parent has not reaped yet: either way it has exited.
bool process_gone(pid_t pid)
{
    if (::kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f)
        return true;
    char buf[512] = "";
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const char* paren = std::strrchr(buf, ')');
    return n == 0 || (paren && paren[1] == ' ' && paren[2] == 'Z');
}

void write_line(std::string_view bytes)
{
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fputc('\n', stdout);
}

}  // namespace

int status(const Target& t, bool json)
{
    try {
        AdminLink link(t);
        auto lines = block(expect_ok(link.call({wire::Op::Status, {}, {}})), "STATUS");
        if (json) {
            nlohmann::ordered_json obj = nlohmann::ordered_json::object();
            for (const auto& line : lines) {
                auto [name, value] = split_first(line);
                if (is_number(value))
                    obj[name] = std::stoull(value);
                else
                    obj[name] = value;
            }
            std::printf("%s\n", obj.dump().c_str());
            return kExitOk;
        }
        std::printf("kvstored is running\n");
        for (const auto& line : lines) {
            auto [name, value] = split_first(line);
            std::printf("  %-17s %s\n", (name + ":").c_str(), value.c_str());
        }
        return kExitOk;
    } catch (const Failure& f) {
        // LSB: "not running" is an answer, printed on stdout, not an error.
        std::fprintf(f.code == kExitNotRunning ? stdout : stderr, "%s%s\n",
                     f.code == kExitNotRunning ? "" : "kvstored status: ", f.message.c_str());
        return f.code;
    }
}

namespace {

std::string stats_text(const prometheus::Rows& rows, StatsFormat format)
{
    if (format == StatsFormat::Prometheus)
        return prometheus::exposition(rows);
    if (format == StatsFormat::Text) {
        std::string out;
        for (const auto& [name, value] : rows)
            out += name + " " + value + "\n";
        return out;
    }
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    for (const auto& [name, value] : rows) {
        if (is_number(value))
            obj[name] = std::stoull(value);
        else
            obj[name] = value;
    }
    return obj.dump() + "\n";
}

Failure file_error(const char* op, const std::string& path)
{
    return Failure{kExitError, std::string(op) + " " + path + ": " + std::strerror(errno)};
}

// Writes `text` to a temporary file in the directory of `path` (named
// <path>.<pid>: node-exporter reads only *.prom) and renames it over `path`.
// Mode 0644 whatever the umask: the collector runs as another user, and
// counters are no secret. No fsync: after a crash the next run rewrites it.
void replace_file(const std::string& path, const std::string& text)
{
    std::string tmp = path + "." + std::to_string(::getpid());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd)
        throw file_error("create", tmp);
    auto fail = [&](const char* op) {
        Failure f = file_error(op, tmp);
        ::unlink(tmp.c_str());
        return f;
    };
    if (::fchmod(fd.get(), 0644) < 0)
        throw fail("chmod");
    for (size_t done = 0; done < text.size();) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw fail("write");
        done += static_cast<size_t>(n);
    }
    if (::close(fd.release()) < 0)
        throw fail("close");
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        Failure f = file_error("rename", tmp);
        f.message += " (to " + path + ")";
        ::unlink(tmp.c_str());
        throw f;
    }
}

}  // namespace

int stats(const Target& t, StatsFormat format, const std::string& output)
{
    return guarded("stats", [&] {
        AdminLink link(t);
        prometheus::Rows rows;
        for (const auto& line : block(expect_ok(link.call({wire::Op::Stats, {}, {}})), "STATS"))
            rows.push_back(split_first(line));
        std::string text = stats_text(rows, format);
        if (output.empty())
            std::fwrite(text.data(), 1, text.size(), stdout);
        else
            replace_file(output, text);
        return kExitOk;
    });
}

int clients(const Target& t, bool json)
{
    return guarded("clients", [&] {
        AdminLink link(t);
        auto lines = block(expect_ok(link.call({wire::Op::Clients, {}, {}})), "CLIENTS");
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        if (!json)
            std::printf("%-8s %-8s %-24s %-20s %10s %8s  %s\n", "ID", "PID", "ADDRESS", "ATTACHED SINCE", "COMMANDS",
                        "IDLE", "PROTOCOL");
        for (const auto& line : lines) {
            unsigned long long id, commands;
            long long since, idle;
            int pid;
            char address[256], protocol[16];
            if (std::sscanf(line.c_str(), "%llu %d %255s %lld %llu %lld %15s", &id, &pid, address, &since, &commands,
                            &idle, protocol)
                != 7)
                throw Failure{kExitError, "protocol error: bad client row '" + line + "'"};
            if (json) {
                rows.push_back({{"id", id},
                                {"pid", pid},
                                {"address", address},
                                {"since_unix", since},
                                {"commands", commands},
                                {"idle_seconds", idle},
                                {"protocol", protocol}});
                continue;
            }
            char when[32];
            time_t since_t = since;
            std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&since_t));
            std::printf("%-8llu %-8d %-24s %-20s %10llu %7llds  %s\n", id, pid, address, when, commands, idle,
                        protocol);
        }
        if (json)
            std::printf("%s\n", rows.dump().c_str());
        return kExitOk;
    });
}

// A client id is what `kvstored clients` lists: a decimal number that fits
// 64 bits, as kvstored parses it (admin.cc, do_kick). Checked here, before
// connecting, so that a typo is bad usage (exit 2) whether or not kvstored runs.
namespace {
bool is_client_id(const std::string& id)
{
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    return ec == std::errc() && end == id.data() + id.size();
}
}  // namespace

int kick(const Target& t, const std::string& id, const std::string& message)
{
    return guarded("kick", [&] {
        if (!is_client_id(id))
            throw Failure{kExitUsage, "client id must be a number: " + id + " (see kvstored clients)"};
        AdminLink link(t);
        // "OK": the client left after its BYE; "OK cut: <why>": it did not
        // leave within kvstored's kick deadline and its connection was reset.
        std::string reply = expect_ok(link.call({wire::Op::Kick, id, message}));
        if (reply == "NOT_FOUND\n")
            throw Failure{kExitError, "no attached client with id " + id + " (see kvstored clients)"};
        if (reply.starts_with("OK cut: "))
            std::printf("client %s cut off: %s", id.c_str(), reply.c_str() + 8);
        else
            std::printf("client %s disconnected\n", id.c_str());
        return kExitOk;
    });
}

// "2026-12-06T07:00:00.123Z" for a deadline in unix ms.
std::string utc_text(int64_t unix_ms)
{
    time_t secs = static_cast<time_t>(unix_ms / 1000);
    struct tm tm { };
    char buf[32];
    if (!::gmtime_r(&secs, &tm) || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return std::to_string(unix_ms) + " ms";
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
    return std::string(buf) + ms;
}

int get(const Target& t, const std::string& key)
{
    return guarded("get", [&] {
        AdminLink link(t);
        std::string reply = expect_ok(link.call({wire::Op::Entry, key, {}}));
        if (reply == "NOT_FOUND\n")
            throw Failure{kExitError, printable_bytes(key) + ": not found"};
        // "ENTRY <version> <deadline ms, 0: none> <flags> <value>\n"
        std::string_view rest = std::string_view(reply).substr(0, reply.size() - 1);
        auto field = [&rest] {
            size_t space = rest.find(' ');
            std::string_view f = rest.substr(0, space);
            rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
            return f;
        };
        std::optional<int64_t> deadline, flags;
        if (field() != "ENTRY" || field().empty() || !(deadline = parse_int64(field()))
            || !(flags = parse_int64(field())))
            throw Failure{kExitError, "unexpected reply from kvstored: " + reply};
        write_line(rest);
        // The value alone on stdout, for scripts; the deadline and flags for the reader.
        std::fflush(stdout);
        if (*flags != 0)  // memcached's client flags; 0: none
            std::fprintf(stderr, "kvstored get: %s has memcached flags %lld\n", printable_bytes(key).c_str(),
                         static_cast<long long>(*flags));
        if (*deadline != 0) {  // 0: none
            int64_t left_ms = *deadline - system_clock().now_ms();
            std::fprintf(stderr, "kvstored get: %s expires at %s (in %lld s)\n", printable_bytes(key).c_str(),
                         utc_text(*deadline).c_str(),
                         static_cast<long long>((std::max<int64_t>(left_ms, 0) + 999) / 1000));
        }
        return kExitOk;
    });
}

int set(const Target& t, const std::string& key, const std::string& value, std::optional<int64_t> ttl_seconds)
{
    return guarded("set", [&] {
        AdminLink link(t);
        wire::Request req{wire::Op::Save, key, value};
        if (ttl_seconds) {
            req.expiry = wire::Expiry::After;
            req.expiry_ms = *ttl_seconds * 1000;
        }
        expect_ok(link.call(req));
        return kExitOk;
    });
}

int ttl(const Target& t, const std::string& key)
{
    return guarded("ttl", [&] {
        AdminLink link(t);
        std::string reply = expect_ok(link.call({wire::Op::Ttl, key, {}}));
        if (reply == "NOT_FOUND\n")
            throw Failure{kExitError, printable_bytes(key) + ": not found"};
        if (!reply.starts_with("TTL "))
            throw Failure{kExitError, "unexpected reply from kvstored: " + reply};
        write_line(std::string_view(reply).substr(4, reply.size() - 5));  // "TTL <seconds>|none\n"
        return kExitOk;
    });
}

int del(const Target& t, const std::string& key)
{
    return guarded("del", [&] {
        AdminLink link(t);
        if (expect_ok(link.call({wire::Op::Delete, key, {}})) == "NOT_FOUND\n")
            throw Failure{kExitError, printable_bytes(key) + ": not found"};
        return kExitOk;
    });
}

int keys(const Target& t, const std::string& prefix)
{
    return guarded("keys", [&] {
        AdminLink link(t);
        read_listing(link, {wire::Op::Keys, prefix, {}}, "KEYS", [](const std::string& key) { write_line(key); });
        return std::fflush(stdout) == 0 ? kExitOk : kExitError;
    });
}

int dump(const Target& t, dump::Format format)
{
    return guarded("dump", [&] {
        AdminLink link(t);
        write_line(dump::header_line(format));
        // Each line is a tsv dump line of this version (wire.h, Op::Dump):
        // escaped, so any key and value bytes come through whole.
        read_listing(link, {wire::Op::Dump, {}, {}}, "DUMP", [&](const std::string& line) {
            dump::Entry e;
            if (std::string why = dump::decode_line(dump::Format::Tsv, dump::kVersion, line, e); !why.empty())
                throw Failure{kExitError, "protocol error: bad dump line '" + printable_bytes(line) + "': " + why};
            write_line(dump::encode_line(format, e.key, e.value, e.deadline, e.flags));
        });
        return std::fflush(stdout) == 0 ? kExitOk : kExitError;
    });
}

namespace {

using dump::Entry;

// Reads and checks all of stdin before anything is sent: a bad line loads
// nothing. A dump of any version this kvstored knows is read (dump_format.h).
std::vector<Entry> read_entries(dump::Format format, uint32_t max_value)
{
    std::vector<Entry> entries;
    dump::Reader reader(format);
    std::string line;
    for (size_t n = 1; std::getline(std::cin, line); ++n) {
        if (line.empty())
            continue;
        Entry e;
        bool is_entry = false;
        std::string why = reader.next(line, e, is_entry);
        if (why.empty() && !is_entry)
            continue;  // the header
        // The store's rules, not the line protocol's: a dump holds whatever
        // the store held, entries written through the Redis door included.
        if (why.empty())
            why = std::string(store_key_problem(e.key));
        if (why.empty() && e.value.size() > max_value)
            why = "value is " + std::to_string(e.value.size()) + " bytes; the limit is " + std::to_string(max_value);
        if (!why.empty())
            throw Failure{kExitError, "stdin line " + std::to_string(n) + ": " + why + "; nothing was loaded"};
        entries.push_back(std::move(e));
    }
    return entries;
}

// "ERR <code> <message>" from a load step becomes "<code>: <message>"; the
// server's message says that nothing was changed.
void expect_load_reply(const std::string& reply, const std::string& want)
{
    if (reply.rfind("ERR ", 0) == 0) {
        std::string text = reply.substr(4, reply.size() - 5);
        size_t sp = text.find(' ');
        throw Failure{kExitError, sp == std::string::npos ? text : text.substr(0, sp) + ": " + text.substr(sp + 1)};
    }
    if (reply.rfind(want, 0) != 0)
        throw Failure{kExitError, "protocol error: expected " + want + ", got '" + reply + "'"};
}

}  // namespace

// A load is staged in kvstored and applied whole or not at all (wire.h
// LoadBegin/LoadEntry/LoadCommit): kvstored checks the capacity first, then
// changes the store in one step and the database in one transaction.
int load(const Target& t, dump::Format format, bool replace)
{
    return guarded("load", [&] {
        AdminLink link(t);
        std::vector<Entry> entries = read_entries(format, link.max_value());
        if (replace && entries.empty())
            throw Failure{kExitUsage,
                          "stdin holds no entries: --replace would only delete everything "
                          "(that is 'kvstored flush --yes')"};
        expect_load_reply(link.call({wire::Op::LoadBegin, {}, replace ? "replace" : ""}), "OK\n");
        // Pipelined, a bounded window of entries in flight. After an error
        // kvstored has discarded the load: stop there.
        constexpr size_t kWindow = 256;
        size_t sent = 0, answered = 0;
        while (answered < entries.size()) {
            while (sent < entries.size() && sent - answered < kWindow) {
                const Entry& e = entries[sent];
                wire::Request req{wire::Op::LoadEntry, e.key, e.value};
                if (e.deadline != 0) {
                    req.expiry = wire::Expiry::At;
                    req.expiry_ms = e.deadline;
                }
                req.delta = e.flags;  // memcached's flags (wire.h, LoadEntry)
                link.send(req);
                ++sent;
            }
            expect_load_reply(link.next_reply(), "OK\n");
            ++answered;
        }
        std::string reply = link.call({wire::Op::LoadCommit, {}, {}});
        expect_load_reply(reply, "LOADED ");
        unsigned long long loaded = 0, after = 0, expired = 0;
        if (std::sscanf(reply.c_str(), "LOADED %llu %llu %llu", &loaded, &after, &expired) != 3)
            throw Failure{kExitError, "protocol error: bad reply '" + reply + "'"};
        std::string skipped = expired == 0 ? ""
                                           : "; skipped " + std::to_string(expired)
                + (expired == 1 ? " entry already past its deadline" : " entries already past their deadline");
        std::printf("loaded %llu %s%s; the store holds %llu%s\n", loaded, loaded == 1 ? "entry" : "entries",
                    replace ? ", replacing all earlier ones" : "", after, skipped.c_str());
        return kExitOk;
    });
}

int flush(const Target& t, bool yes)
{
    return guarded("flush", [&] {
        AdminLink link(t);
        std::string entries = status_rows(link)["entries"];
        if (!yes)
            throw Failure{kExitUsage, "this deletes all " + entries + " entries; run 'kvstored flush --yes' to do it"};
        expect_ok(link.call({wire::Op::Flush, {}, {}}));
        std::printf("flushed %s entries\n", entries.c_str());
        return kExitOk;
    });
}

int shutdown(const Target& t, const std::string& message, std::chrono::milliseconds wait)
{
    return guarded("shutdown", [&] {
        pid_t pid;
        {
            AdminLink link(t);
            pid = std::stoi(status_rows(link)["pid"]);
            expect_ok(link.call({wire::Op::Shutdown, {}, message}));
        }
        auto deadline = Clock::now() + wait;
        while (!process_gone(pid)) {
            if (Clock::now() >= deadline)
                throw Failure{kExitError,
                              "kvstored (pid " + std::to_string(pid) + ") is still running after "
                                  + std::to_string(wait.count() / 1000) + " s"};
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::printf("kvstored (pid %d) has shut down\n", pid);
        return kExitOk;
    });
}

int status_rows(const Target& t, std::map<std::string, std::string>& rows, std::string& error)
{
    try {
        AdminLink link(t);
        rows = status_rows(link);
        return kExitOk;
    } catch (const Failure& f) {
        error = f.message;
        return f.code;
    } catch (const std::exception& e) {
        error = e.what();
        return kExitError;
    }
}

}  // namespace kv::admin
