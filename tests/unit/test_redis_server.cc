// Unit tests for the Redis door's dispatcher and its connection, server and
// transaction commands (kvstored/doors/redis: command_table.cc,
// server_commands.cc, transactions.cc): exact reply bytes, as redis-server
// 7.0.15 sends them (each expected reply here was checked against it), with a
// stub Host and a ManualClock.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <vector>

#include "clock.h"
#include "commands.h"
#include "doors/redis/redis_commands.h"

using kv::redis::ClientInfo;
using kv::redis::ServerFacts;
using kv::redis::Session;

namespace {

struct StubHost : kv::redis::Host {
    std::vector<ClientInfo> list;
    std::vector<uint64_t> killed;

    std::vector<ClientInfo> clients() const override { return list; }
    bool kill_client(uint64_t id) override
    {
        killed.push_back(id);
        return true;
    }
    ServerFacts facts() const override
    {
        ServerFacts f;
        f.pid = 4242;
        f.uptime_seconds = 90061;
        f.capacity = 100;
        f.max_value = 1024;
        f.when_full = "refuse";
        f.persistence = "none";
        f.last_save_unix = 1'800'000'000;
        f.rss_bytes = 1'490'000;
        f.connected_clients = list.size();
        return f;
    }
};

struct Fixture {
    kv::ManualClock clock;
    kv::Database db{100, std::nullopt, kv::WhenFull::Refuse, clock};
    kv::Stats stats;
    kv::Limits limits{1024};
    StubHost host;
    kv::redis::Context ctx{db, stats, limits, host, clock};
    Session session;

    Fixture()
    {
        session.id = 7;
        session.address = "10.0.0.1:5000";
        host.list = {ClientInfo{3, "10.0.0.2:6000", "other", 50, 2, "get", 2, 0},
                     ClientInfo{7, "10.0.0.1:5000", "", 10, 0, "", 2, 0}, ClientInfo{9, "", "", 5, 5, "", 0, 0}};
    }

    std::string run(std::initializer_list<std::string_view> args, Session& s)
    {
        std::vector<std::string_view> v(args);
        std::string out;
        kv::redis::execute(v, s, ctx, out);
        return out;
    }
    std::string run(std::initializer_list<std::string_view> args) { return run(args, session); }

    // A write through the line protocol's door.
    void line_write(kv::wire::Op op, std::string_view key, std::string_view value = {})
    {
        std::string out;
        std::optional<kv::Listing> listing;
        kv::execute(kv::wire::Request{op, key, value}, db, stats, limits, out, listing);
    }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "the dispatcher answers unknown commands and wrong arity as Redis", "[redis]")
{
    CHECK(run({"foo", "a", "b"}) == "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
    CHECK(run({"FOO"}) == "-ERR unknown command 'FOO', with args beginning with: \r\n");
    CHECK(run({"lpush", "k", "v"}) == "-ERR unknown command 'lpush', with args beginning with: 'k' 'v' \r\n");
    CHECK(run({"client|id"}) == "-ERR unknown command 'client|id', with args beginning with: \r\n");
    // Arguments are cut at 128 bytes in all, as Redis cuts them.
    std::string long_arg(200, 'x');
    CHECK(run({"nope", long_arg, "y"})
          == "-ERR unknown command 'nope', with args beginning with: '" + std::string(128, 'x') + "' \r\n");
    CHECK(run({"nope", "a", long_arg, "y"})
          == "-ERR unknown command 'nope', with args beginning with: 'a' '" + std::string(124, 'x') + "' \r\n");
    CHECK(run({"get"}) == "-ERR wrong number of arguments for 'get' command\r\n");
    CHECK(run({"GET", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
    CHECK(run({"client"}) == "-ERR wrong number of arguments for 'client' command\r\n");
    CHECK(run({"client", "foo"}) == "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n");
    CHECK(run({"Client", "Setname"}) == "-ERR wrong number of arguments for 'client|setname' command\r\n");
    CHECK(run({"config"}) == "-ERR wrong number of arguments for 'config' command\r\n");
    CHECK(run({"config", "get"}) == "-ERR wrong number of arguments for 'config|get' command\r\n");
    CHECK(run({"command", "foo"}) == "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n");
    CHECK(run({"ping", "a", "b"}) == "-ERR wrong number of arguments for 'ping' command\r\n");
    CHECK(run({"get", ""}) == "-ERR kvstore keys are 1 to 250 bytes\r\n");
    CHECK(run({"watch", "a", std::string(251, 'k')}) == "-ERR kvstore keys are 1 to 250 bytes\r\n");
    CHECK(stats.error_replies == 17);
}

TEST_CASE_METHOD(Fixture, "connection commands", "[redis]")
{
    CHECK(run({"PING"}) == "+PONG\r\n");
    CHECK(run({"ping", "a"}) == "$1\r\na\r\n");
    CHECK(run({"echo", "hi"}) == "$2\r\nhi\r\n");
    CHECK(run({"select", "0"}) == "+OK\r\n");
    CHECK(run({"select", "1"}) == "-ERR DB index is out of range\r\n");
    CHECK(run({"select", "-1"}) == "-ERR DB index is out of range\r\n");
    CHECK(run({"select", "x"}) == "-ERR value is not an integer or out of range\r\n");
    CHECK(run({"auth", "x"})
          == "-ERR AUTH <password> called without any password configured for the default user. Are you sure your "
             "configuration is correct?\r\n");
    CHECK(run({"auth", "default", "x"}) == "+OK\r\n");
    CHECK(run({"auth", "a", "b"}) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(run({"auth", "a", "b", "c"}) == "-ERR syntax error\r\n");
    CHECK(run({"time"}) == "*2\r\n$10\r\n1800000000\r\n$1\r\n0\r\n");
    clock.advance(1234);
    CHECK(run({"time"}) == "*2\r\n$10\r\n1800000001\r\n$6\r\n234000\r\n");
    CHECK(run({"lastsave"}) == ":1800000000\r\n");
    CHECK(run({"dbsize"}) == ":0\r\n");
    CHECK(!session.close_after_reply);
    CHECK(run({"quit"}) == "+OK\r\n");
    CHECK(session.close_after_reply);
}

TEST_CASE_METHOD(Fixture, "HELLO answers Redis's map and switches the encoding", "[redis]")
{
    const std::string body = "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:";
    const std::string tail = "\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7"
                             "\r\nmodules\r\n*0\r\n";
    CHECK(run({"hello"}) == "*14\r\n" + body + "2" + tail);
    CHECK(run({"hello", "4"}) == "-NOPROTO unsupported protocol version\r\n");
    CHECK(run({"hello", "x"}) == "-ERR Protocol version is not an integer or out of range\r\n");
    CHECK(run({"hello", "2", "setname"}) == "-ERR Syntax error in HELLO option 'setname'\r\n");
    CHECK(run({"hello", "2", "setname", "a b"})
          == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(run({"hello", "3", "auth", "a", "b"})
          == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(session.protocol == 2);
    CHECK(run({"client", "getname"}) == "$-1\r\n");
    CHECK(run({"hello", "3", "auth", "default", "pw", "setname", "me"}) == "%7\r\n" + body + "3" + tail);
    CHECK(session.protocol == 3);
    CHECK(run({"client", "getname"}) == "$2\r\nme\r\n");
    CHECK(run({"client", "setname", ""}) == "+OK\r\n");
    CHECK(run({"client", "getname"}) == "_\r\n");
    CHECK(run({"command", "info", "nosuch"}) == "*1\r\n_\r\n");
    CHECK(run({"info", "nosuch"}) == "=4\r\ntxt:\r\n");
    CHECK(run({"config", "get", "databases"}) == "%1\r\n$9\r\ndatabases\r\n$1\r\n1\r\n");
    CHECK(run({"hello", "2"}).starts_with("*14\r\n"));
    CHECK(run({"client", "getname"}) == "$-1\r\n");
}

TEST_CASE_METHOD(Fixture, "CLIENT ID, SETNAME, INFO, LIST and KILL", "[redis]")
{
    CHECK(run({"client", "id"}) == ":7\r\n");
    CHECK(run({"client", "setname", "a\nb"})
          == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(run({"client", "setname", "abc"}) == "+OK\r\n");
    const std::string me = "id=7 addr=10.0.0.1:5000 laddr= fd=-1 name=abc age=10 idle=0 flags=N db=0 sub=0 psub=0 "
                           "ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
                           "tot-mem=0 events=r cmd=client|info user=default redir=-1 resp=2\n";
    CHECK(run({"client", "info"}) == "$" + std::to_string(me.size()) + "\r\n" + me + "\r\n");
    std::string list = run({"client", "list"});
    CHECK(list.find("id=3 addr=10.0.0.2:6000 laddr= fd=-1 name=other age=50 idle=2 flags=N") != std::string::npos);
    CHECK(list.find("cmd=client|list user=default redir=-1 resp=2\nid=9 ") != std::string::npos);
    CHECK(list.ends_with("cmd=NULL user=default redir=-1 resp=0\n\r\n"));
    CHECK(run({"client", "list", "id", "9999"}) == "$0\r\n\r\n");
    CHECK(run({"client", "list", "id", "x"}) == "-ERR Invalid client ID\r\n");
    CHECK(run({"client", "list", "type", "foo"}) == "-ERR Unknown client type 'foo'\r\n");
    CHECK(run({"client", "list", "type", "pubsub"}) == "$0\r\n\r\n");
    CHECK(run({"client", "list", "foo"}) == "-ERR syntax error\r\n");

    CHECK(run({"client", "kill", "1.2.3.4:5"}) == "-ERR No such client\r\n");
    CHECK(run({"client", "kill", "id", "x"}) == "-ERR client-id should be greater than 0\r\n");
    CHECK(run({"client", "kill", "id"}) == "-ERR No such client\r\n");  // the old form: an address "id"
    CHECK(run({"client", "kill", "foo", "bar"}) == "-ERR syntax error\r\n");
    CHECK(run({"client", "kill", "skipme", "x"}) == "-ERR syntax error\r\n");
    CHECK(run({"client", "kill", "user", "x"}) == "-ERR No such user 'x'\r\n");
    CHECK(run({"client", "kill", "laddr", "1:2"}) == ":0\r\n");
    CHECK(run({"client", "kill", "id", "999"}) == ":0\r\n");
    CHECK(host.killed.empty());
    CHECK(run({"client", "kill", "10.0.0.2:6000"}) == "+OK\r\n");
    CHECK(host.killed == std::vector<uint64_t>{3});
    CHECK(run({"client", "kill", "type", "normal", "user", "default"}) == ":2\r\n");  // all but me
    CHECK(host.killed == std::vector<uint64_t>{3, 3, 9});
    CHECK(!session.close_after_reply);
    CHECK(run({"client", "kill", "addr", "10.0.0.1:5000", "skipme", "no"}) == ":1\r\n");
    CHECK(session.close_after_reply);
}

TEST_CASE_METHOD(Fixture, "INFO sections", "[redis]")
{
    CHECK(run({"info", "keyspace"}) == "$12\r\n# Keyspace\r\n\r\n");
    kv::Store::PutResult r;
    db.put("a", "1", r);
    db.put("b", "2", clock.now_ms() + 5000, r);
    std::string keyspace = "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n";
    CHECK(run({"INFO", "Keyspace"}) == "$" + std::to_string(keyspace.size()) + "\r\n" + keyspace + "\r\n");
    std::string all = run({"info"});
    CHECK(all.find("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n") != std::string::npos);
    CHECK(all.find("\r\nprocess_id:4242\r\n") != std::string::npos);
    CHECK(all.find("\r\nuptime_in_seconds:90061\r\nuptime_in_days:1\r\n") != std::string::npos);
    CHECK(all.find("\r\n\r\n# Clients\r\nconnected_clients:3\r\n") != std::string::npos);
    CHECK(all.find("\r\n# Memory\r\nused_memory:1490000\r\nused_memory_human:1.42M\r\n") != std::string::npos);
    CHECK(all.find("\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n") != std::string::npos);
    CHECK(all.find("\r\n# Persistence\r\nloading:0\r\n") != std::string::npos);
    CHECK(all.find("\r\nrdb_last_save_time:1800000000\r\n") != std::string::npos);
    CHECK(all.find("\r\n# Stats\r\ntotal_connections_received:0\r\ntotal_commands_processed:3\r\n")
          != std::string::npos);
    CHECK(all.find("\r\n# Replication\r\nrole:master\r\n") != std::string::npos);
    // The line protocol's backend rows, prefixed, at the end of Persistence;
    // memory only: none of the etcd ones (Replication).
    CHECK(all.find("\r\nkvstore_backend:memory\r\nkvstore_read_only:0\r\nkvstore_read_only_why:-\r\n\r\n# Stats")
          != std::string::npos);
    CHECK(all.find("kvstore_etcd_") == std::string::npos);
    CHECK(all.ends_with(keyspace + "\r\n"));
    for (std::string_view which : {"default", "all", "everything", "ALL"}) {
        std::string text = run({"info", which});
        for (std::string_view section :
             {"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# Keyspace"})
            CHECK(text.find(section) != std::string::npos);
    }
    std::string server = run({"info", "server", "foo"});
    CHECK(server.find("# Server\r\n") != std::string::npos);
    CHECK(server.find("# Clients") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "CONFIG GET and SET", "[redis]")
{
    CHECK(run({"config", "get", "nothing"}) == "*0\r\n");
    CHECK(run({"config", "get", "maxmemory-policy"}) == "*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n");
    CHECK(run({"config", "get", "*MAX*BULK*"}) == "*2\r\n$18\r\nproto-max-bulk-len\r\n$4\r\n1024\r\n");
    CHECK(run({"config", "get", "save", "appendonly", "sav*"})
          == "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    CHECK(run({"config", "set", "a", "1", "b"}) == "-ERR syntax error\r\n");
    CHECK(run({"config", "set", "maxmemory", "0", "foo", "1"})
          == "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n");
    CHECK(run({"config", "set", "databases", "2"})
          == "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n");
}

TEST_CASE_METHOD(Fixture, "COMMAND answers Redis's own descriptions", "[redis]")
{
    CHECK(run({"command", "count"}) == ":62\r\n");
    std::string get = run({"command", "info", "GET"});
    CHECK(get.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"));
    CHECK(run({"command", "info", "client|kill"})
          == "*1\r\n*10\r\n$11\r\nclient|kill\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n"
             ":0\r\n*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n");
    CHECK(run({"command", "docs", "foo"}) == "*0\r\n");
    CHECK(
        run({"command", "docs", "foo", "ping"})
        == "*2\r\n$4\r\nping\r\n*10\r\n$7\r\nsummary\r\n$15\r\nPing the server\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\n"
           "group\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*6\r\n$4\r\n"
           "name\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\nstring\r\n$5\r\nflags\r\n*1\r\n+optional\r\n");
    CHECK(run({"command"}).starts_with("*62\r\n*10\r\n$3\r\nget\r\n"));
}

TEST_CASE_METHOD(Fixture, "MULTI queues, EXEC runs the queue in one call", "[redis]")
{
    CHECK(run({"exec"}) == "-ERR EXEC without MULTI\r\n");
    CHECK(run({"discard"}) == "-ERR DISCARD without MULTI\r\n");
    CHECK(run({"multi"}) == "+OK\r\n");
    CHECK(run({"multi"}) == "-ERR MULTI calls can not be nested\r\n");
    CHECK(run({"watch", "x"}) == "-ERR WATCH inside MULTI is not allowed\r\n");
    CHECK(run({"ping"}) == "+QUEUED\r\n");
    CHECK(run({"echo", "e"}) == "+QUEUED\r\n");
    CHECK(run({"hello", "3"}) == "+QUEUED\r\n");
    CHECK(run({"client", "getname"}) == "+QUEUED\r\n");
    CHECK(session.queued.size() == 4);
    // The array's header goes out in RESP2; HELLO 3 changes the replies after it.
    CHECK(
        run({"exec"})
        == "*4\r\n+PONG\r\n$1\r\ne\r\n%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto"
           "\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules"
           "\r\n*0\r\n_\r\n");
    CHECK(!session.in_multi);
    CHECK(run({"multi"}) == "+OK\r\n");
    CHECK(run({"exec"}) == "*0\r\n");
    // Inside EXEC the session is still in MULTI, and its last command is EXEC.
    CHECK(run({"multi"}) == "+OK\r\n");
    CHECK(run({"client", "info"}) == "+QUEUED\r\n");
    std::string info = run({"exec"});
    CHECK(info.starts_with("*1\r\n=" + std::to_string(info.size() - 12) + "\r\ntxt:id=7 addr=10.0.0.1:5000 "));
    CHECK(info.find(" flags=x db=0 sub=0 psub=0 ssub=0 multi=1 ") != std::string::npos);
    CHECK(info.ends_with(" cmd=exec user=default redir=-1 resp=3\n\r\n"));
    session.protocol = 2;
    CHECK(run({"multi"}) == "+OK\r\n");
    CHECK(run({"discard"}) == "+OK\r\n");
    CHECK(run({"exec"}) == "-ERR EXEC without MULTI\r\n");
}

TEST_CASE_METHOD(Fixture, "a queuing error makes EXEC answer EXECABORT", "[redis]")
{
    SECTION("wrong arity")
    {
        run({"multi"});
        CHECK(run({"get"}) == "-ERR wrong number of arguments for 'get' command\r\n");
        CHECK(run({"ping"}) == "+QUEUED\r\n");
    }
    SECTION("unknown command")
    {
        run({"multi"});
        CHECK(run({"lpush", "a", "b"}) == "-ERR unknown command 'lpush', with args beginning with: 'a' 'b' \r\n");
    }
    SECTION("unknown subcommand")
    {
        run({"multi"});
        CHECK(run({"client", "foo"}) == "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n");
    }
    SECTION("a command not allowed in a transaction")
    {
        run({"multi"});
        CHECK(run({"shutdown"}) == "-ERR Command not allowed inside a transaction\r\n");
    }
    CHECK(run({"exec"}) == "-EXECABORT Transaction discarded because of previous errors.\r\n");
    CHECK(!session.in_multi);
    CHECK(run({"exec"}) == "-ERR EXEC without MULTI\r\n");
    CHECK(stats.exec_aborts == 1);
}

TEST_CASE_METHOD(Fixture, "MULTI's own errors do not abort it, QUIT is not queued", "[redis]")
{
    run({"multi"});
    CHECK(run({"multi"}) == "-ERR MULTI calls can not be nested\r\n");
    CHECK(run({"watch", "a"}) == "-ERR WATCH inside MULTI is not allowed\r\n");
    CHECK(run({"ping"}) == "+QUEUED\r\n");
    CHECK(run({"exec"}) == "*1\r\n+PONG\r\n");
    run({"multi"});
    CHECK(run({"quit"}) == "+OK\r\n");
    CHECK(session.close_after_reply);
}

TEST_CASE_METHOD(Fixture, "a write to a watched key from any door aborts EXEC", "[redis]")
{
    kv::Store::PutResult r;
    auto watched_exec = [&] {
        CHECK(run({"multi"}) == "+OK\r\n");
        CHECK(run({"ping"}) == "+QUEUED\r\n");
        return run({"exec"});
    };
    SECTION("the line protocol's save")
    {
        CHECK(run({"watch", "k", "other"}) == "+OK\r\n");
        line_write(kv::wire::Op::Save, "k", "v");
        CHECK(watched_exec() == "*-1\r\n");
        CHECK(stats.exec_aborts == 1);
    }
    SECTION("the line protocol's delete of a present key; of an absent one is no change")
    {
        db.put("k", "v", r);
        CHECK(run({"watch", "k", "absent"}) == "+OK\r\n");
        line_write(kv::wire::Op::Delete, "absent");
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        line_write(kv::wire::Op::Delete, "k");
        CHECK(watched_exec() == "*-1\r\n");
    }
    SECTION("a deadline set, by another session too")
    {
        db.put("k", "v", r);
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        bool found;
        db.set_deadline("k", clock.now_ms() + 60000, found);
        CHECK(watched_exec() == "*-1\r\n");
    }
    SECTION("a flush touches watched keys that held a value")
    {
        db.put("k", "v", r);
        CHECK(run({"watch", "absent"}) == "+OK\r\n");
        db.clear();
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        db.put("k", "v", r);
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        db.clear();
        CHECK(watched_exec() == "*-1\r\n");
    }
    SECTION("UNWATCH forgets; EXEC and DISCARD unwatch")
    {
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        CHECK(run({"unwatch"}) == "+OK\r\n");
        db.put("k", "v", r);
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        db.put("k", "w", r);  // no longer watched
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        run({"multi"});
        CHECK(run({"discard"}) == "+OK\r\n");
        db.put("k", "x", r);
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
    }
    SECTION("a watched key that expires before EXEC aborts it; one expired at WATCH does not")
    {
        db.put("k", "v", clock.now_ms() + 1000, r);
        db.put("gone", "v", clock.now_ms() + 10, r);
        clock.advance(20);
        CHECK(run({"watch", "k", "gone"}) == "+OK\r\n");
        clock.advance(500);
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        clock.advance(500);
        CHECK(watched_exec() == "*-1\r\n");
    }
    SECTION("an admin load's commit")
    {
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        uint64_t ticket;
        std::string summary;
        CHECK(db.load_begin(1, false).empty());
        CHECK(db.load_add(1, "other", "v", kv::kNoDeadline).empty());
        CHECK(db.load_commit(1, ticket, summary).empty());
        CHECK(watched_exec() == "*1\r\n+PONG\r\n");
        CHECK(run({"watch", "k"}) == "+OK\r\n");
        CHECK(db.load_begin(1, false).empty());
        CHECK(db.load_add(1, "k", "v", kv::kNoDeadline).empty());
        CHECK(db.load_commit(1, ticket, summary).empty());
        CHECK(watched_exec() == "*-1\r\n");
    }
    SECTION("another Redis session's write, and a session's end unregisters it")
    {
        {
            Session other;
            other.id = 8;
            CHECK(run({"watch", "k"}, other) == "+OK\r\n");
            CHECK(run({"watch", "k"}) == "+OK\r\n");
        }  // other ends: its watch is gone from the registry
        db.put("k", "v", r);
        CHECK(watched_exec() == "*-1\r\n");
        CHECK(db.watches().empty());
    }
}

TEST_CASE("an eviction touches the evicted key", "[redis]")
{
    kv::ManualClock clock;
    kv::Database db{1, std::nullopt, kv::WhenFull::Evict, clock};
    kv::WatchRegistry::Watcher w;
    kv::Store::PutResult r;
    db.put("a", "1", r);
    db.watches().add("a", &w);
    db.put("b", "2", r);
    CHECK(!db.store().contains("a"));
    CHECK(w.dirty);
    db.watches().remove("a", &w);
    CHECK(db.watches().empty());
}

TEST_CASE_METHOD(Fixture, "SHUTDOWN is refused: stopping kvstored is an admin operation", "[redis]")
{
    CHECK(run({"shutdown", "foo"}) == "-ERR syntax error\r\n");
    CHECK(run({"shutdown", "nosave", "save"}) == "-ERR syntax error\r\n");
    CHECK(run({"shutdown", "abort"}) == "-ERR No shutdown in progress.\r\n");
    CHECK(run({"shutdown"}) == "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    CHECK(run({"shutdown", "nosave"}) == "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    CHECK(session.shutdown_refused);
    CHECK_FALSE(session.close_after_reply);
}

// Bounds a small request cannot escape (docs/redis.md, "Limits"; found by
// review: one MGET of a large value many times, a MULTI queue of large
// values, WATCH of many keys, KEYS inside EXEC).
namespace {

std::string run_args(Fixture& f, const std::vector<std::string>& args)
{
    std::vector<std::string_view> v(args.begin(), args.end());
    std::string out;
    kv::redis::execute(v, f.session, f.ctx, out);
    return out;
}

const std::string kTooLong = "-ERR kvstore replies are at most 4194304 bytes, in a transaction all together; this one "
                             "was longer (ask for fewer keys, or use SCAN)\r\n";

}  // namespace

TEST_CASE_METHOD(Fixture, "a reply longer than 4 MiB is refused, not built", "[redis]")
{
    CHECK(run({"set", "k", std::string(1000, 'v')}) == "+OK\r\n");
    std::vector<std::string> mget{"mget"};
    mget.insert(mget.end(), 4200, "k");  // 4,237,800 bytes of values alone
    CHECK(run_args(*this, mget) == kTooLong);
    mget.resize(4000);  // about 4.0 MB: within the bound
    CHECK(run_args(*this, mget).size() > 3'990'000);
}

TEST_CASE_METHOD(Fixture, "EXEC's replies share the 4 MiB bound, every queued command still runs", "[redis]")
{
    CHECK(run({"set", "k", std::string(1000, 'v')}) == "+OK\r\n");
    std::vector<std::string> mget{"mget"};
    mget.insert(mget.end(), 1500, "k");  // about 1.5 MB of reply each
    CHECK(run({"multi"}) == "+OK\r\n");
    for (int i = 0; i < 4; ++i)
        CHECK(run_args(*this, mget) == "+QUEUED\r\n");
    CHECK(run({"incr", "n"}) == "+QUEUED\r\n");
    std::string out = run({"exec"});
    CHECK(out.size() < 4'300'000);
    CHECK(out.rfind("*5\r\n", 0) == 0);
    // The third and fourth MGET would pass the bound: each reply is the
    // error; INCR's reply still fits, and every command ran.
    size_t first = out.find(kTooLong);
    REQUIRE(first != std::string::npos);
    CHECK(out.find(kTooLong, first + 1) == first + kTooLong.size());
    CHECK(out.substr(out.size() - 4) == ":1\r\n");
    CHECK(run({"get", "n"}) == "$1\r\n1\r\n");
}

TEST_CASE_METHOD(Fixture, "an EXEC whose replies pass 4 MiB in all is still one array: its commands all ran", "[redis]")
{
    CHECK(run({"set", "k", std::string(1000, 'v')}) == "+OK\r\n");
    CHECK(run({"multi"}) == "+OK\r\n");
    for (int i = 0; i < 4200; ++i)  // 4,237,800 bytes of values
        REQUIRE(run({"get", "k"}) == "+QUEUED\r\n");
    for (int i = 0; i < 100; ++i)
        REQUIRE(run({"incr", "n"}) == "+QUEUED\r\n");
    std::string out = run({"exec"});
    CHECK(out.rfind("*4300\r\n$1000\r\n", 0) == 0);
    CHECK(out.size() < kv::redis::kMaxReplyBytes + 4300 * kTooLong.size());
    CHECK(out.substr(out.size() - kTooLong.size()) == kTooLong);
    CHECK(run({"get", "n"}) == "$3\r\n100\r\n");
}

TEST_CASE_METHOD(Fixture, "a MULTI queue holds at most one request's bytes, KEYS, SCAN and LCS are not queued",
                 "[redis]")
{
    CHECK(run({"multi"}) == "+OK\r\n");
    CHECK(run({"keys", "*"})
          == "-ERR kvstore does not queue 'keys' in a transaction: its cost grows with the store or "
             "the values, and EXEC runs in one step\r\n");
    CHECK(run({"exec"}) == "-EXECABORT Transaction discarded because of previous errors.\r\n");

    CHECK(run({"multi"}) == "+OK\r\n");
    std::string value(1000, 'v');
    // 1 MiB + 2 x 1024 bytes (limits.max_value is 1024) hold 1,000 of these.
    std::string reply;
    int queued = 0;
    while ((reply = run({"set", "k", value})) == "+QUEUED\r\n")
        ++queued;
    CHECK(queued > 900);
    CHECK(queued < 1100);
    CHECK(reply == "-ERR kvstore queues at most 10000 commands and 1050624 bytes in a transaction\r\n");
    CHECK(run({"exec"}) == "-EXECABORT Transaction discarded because of previous errors.\r\n");
    CHECK(run({"exists", "k"}) == ":0\r\n");
}

TEST_CASE_METHOD(Fixture, "WATCH holds at most 256 KiB of keys per connection", "[redis]")
{
    std::vector<std::string> watch{"watch"};
    for (int i = 0; i < 800; ++i)  // 800 x (250 + 64) bytes: within
        watch.push_back(std::to_string(i) + std::string(247, 'k'));
    CHECK(run_args(*this, watch) == "+OK\r\n");
    watch.resize(1);
    for (int i = 0; i < 100; ++i)  // 100 more: past it
        watch.push_back("x" + std::to_string(i) + std::string(240, 'k'));
    CHECK(run_args(*this, watch)
          == "-ERR kvstore watches at most 262144 bytes of keys per connection (each key counts its length + 64)\r\n");
    CHECK(run({"unwatch"}) == "+OK\r\n");
    CHECK(run_args(*this, watch) == "+OK\r\n");
}
