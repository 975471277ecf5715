// etcd_grpc_put: etcd_put's load through etcd's gRPC API instead of its JSON
// gateway (issue 17's experiment: would a gRPC client reach T10's goal?).
//
// The same options, keys and report as etcd_put (etcd_load.h): C concurrent
// writers, each with one KV.Put (or with --batch N one KV.Txn of N puts of
// distinct keys) in flight, and --watchers W Watch streams on --prefix reading
// every event. The writers are asynchronous calls on one completion queue
// driven by one thread (kvbench's closed loop: the next request is sent as
// soon as the reply arrives), over --channels HTTP/2 connections per target
// endpoint (1, as etcd's Go client keeps one connection); each watcher is a
// thread with a synchronous stream on a connection of its own, as each
// kvstored host would have. The run starts once every watch is created.
//
// Bounds: it stops after --duration seconds (after --warmup) or --requests
// answered puts, or when no reply at all arrived for --timeout seconds (exit
// 1); every call also has a deadline of --timeout. A failed call is re-sent
// 10 ms later. Loopback endpoints only (http://127.0.0.1:PORT, as etcd_put's:
// etcd serves gRPC and its gateway on the same port).
//
// Built only where gRPC C++, protoc and etcd's .proto files are installed
// (bench/CMakeLists.txt, KVSTORE_ETCD_GRPC_BENCH).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd_load.h"

namespace {

using etcdload::Clock;
using etcdload::Options;
using etcdload::Stats;
using etcdload::to_duration;
using namespace std::chrono_literals;

constexpr const char* kUsage = "usage: etcd_grpc_put --endpoints URL[,URL...] [OPTIONS]\n"
                               "\n"
                               "Puts random keys into etcd through its gRPC API (KV.Put) from N concurrent\n"
                               "writers, one call in flight each, and prints kvbench's report (or its JSON\n"
                               "line with --json). etcd_put's options and output, through gRPC.\n"
                               "\n"
                               "  --endpoints LIST    http://127.0.0.1:PORT,... (required; loopback only)\n"
                               "  --to spread|leader  spread writers round-robin over the endpoints, or\n"
                               "                      send all to the current leader (spread)\n"
                               "  -c, --connections N concurrent writers, 1-4096 (64)\n"
                               "  --channels N        HTTP/2 connections per target endpoint, 1-64 (1)\n"
                               "  -d, --duration S    seconds to measure (10)\n"
                               "  -w, --warmup S      seconds run and forgotten before --duration (0)\n"
                               "  -n, --requests N    instead of --duration: stop after N answered puts\n"
                               "  -k, --keys K        distinct keys, drawn uniformly (10000)\n"
                               "  --key-size B        \"key.\" + zero-padded number, 5-250 bytes (16)\n"
                               "  -s, --value-size B  value bytes, 0-1048576 (32)\n"
                               "  --prefix P          prepended to every key (/etcd_put/)\n"
                               "  --timeout S         a call's deadline, and give up when no reply came for S (10)\n"
                               "  --seed N            seed of the key generator (1)\n"
                               "  --batch N           each call a KV.Txn of N puts of distinct keys, 1-128;\n"
                               "                      answered counts puts (1)\n"
                               "  --watchers W        W Watch streams on --prefix reading every event, 0-64 (0)\n"
                               "  --json              one JSON line (kvbench's fields) instead of the report\n"
                               "\n"
                               "Exit status: 0 when the run completed with no error, 1 on errors or a stall,\n"
                               "2 on bad usage.\n";

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int)
{
    g_interrupted = 1;
}

// http://HOST:PORT -> HOST:PORT, gRPC's target (etcd answers gRPC and HTTP on
// one port).
std::string grpc_target(const std::string& endpoint)
{
    return endpoint.substr(endpoint.find("://") + 3);
}

// A channel with a connection of its own: without a local subchannel pool,
// channels to one target share one connection.
std::shared_ptr<grpc::Channel> own_channel(const std::string& endpoint)
{
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(grpc_target(endpoint), grpc::InsecureChannelCredentials(), args);
}

std::string status_text(const grpc::Status& s)
{
    return "code " + std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message();
}

// The endpoint that is the leader, asking each in turn (Maintenance.Status:
// its member_id against the leader it names). Throws naming every failure.
std::string find_leader(const Options& o)
{
    std::string why;
    for (const std::string& e : o.endpoints) {
        auto stub = etcdserverpb::Maintenance::NewStub(own_channel(e));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + to_duration(o.timeout));
        etcdserverpb::StatusResponse reply;
        grpc::Status st = stub->Status(&ctx, etcdserverpb::StatusRequest(), &reply);
        if (st.ok() && reply.leader() != 0 && reply.header().member_id() == reply.leader())
            return e;
        why += "; " + e + ": " + (st.ok() ? (reply.leader() == 0 ? "no leader" : "a follower") : status_text(st));
    }
    throw std::runtime_error("find the leader (Maintenance.Status): none of the endpoints is" + why);
}

// A Watch stream on the prefix, read to the end by a thread of its own.
// Invariant: `created` turns true once etcd confirmed the watch; `ended` once
// the stream finished, which before stop() is an error (`error` says why).
class Watcher {
public:
    Watcher(const std::string& endpoint, const Options& o) : stub_(etcdserverpb::Watch::NewStub(own_channel(endpoint)))
    {
        std::string end = o.prefix;
        end.back() = static_cast<char>(end.back() + 1);  // the prefix's range end
        etcdserverpb::WatchRequest req;
        req.mutable_create_request()->set_key(o.prefix);
        req.mutable_create_request()->set_range_end(end);
        thread_ = std::thread([this, req] { read(req); });
    }
    ~Watcher() { stop(); }

    void stop()
    {
        stopping_ = true;
        ctx_.TryCancel();
        if (thread_.joinable())
            thread_.join();
    }
    bool created() const { return created_; }
    bool ended() const { return ended_; }
    uint64_t events() const { return events_; }
    const std::string& error() const { return error_; }  // read after ended()

private:
    void read(const etcdserverpb::WatchRequest& req)
    {
        auto stream = stub_->Watch(&ctx_);
        etcdserverpb::WatchResponse resp;
        if (stream->Write(req)) {
            while (stream->Read(&resp)) {
                if (resp.created())
                    created_ = true;
                events_ += static_cast<uint64_t>(resp.events_size());
                if (resp.canceled())
                    break;
            }
        }
        grpc::Status st = stream->Finish();
        if (!stopping_)
            error_
                = "a watch stream ended: " + (resp.canceled() ? "canceled: " + resp.cancel_reason() : status_text(st));
        ended_ = true;
    }

    std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
    grpc::ClientContext ctx_;
    std::atomic<bool> created_{false}, ended_{false}, stopping_{false};
    std::atomic<uint64_t> events_{0};
    std::string error_;
    std::thread thread_;
};

// One writer: its call in flight (a fresh context per call, as gRPC wants).
struct Call {
    etcdserverpb::KV::Stub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> ctx;
    etcdserverpb::PutRequest put;
    etcdserverpb::TxnRequest txn;
    etcdserverpb::PutResponse put_reply;
    etcdserverpb::TxnResponse txn_reply;
    std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>> put_reader;
    std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::TxnResponse>> txn_reader;
    grpc::Status status;
    Clock::time_point sent{};
    Clock::time_point retry_at{};  // after a failure: re-sent 10 ms later (kvbench's pace)
    bool in_flight = false;
};

class Runner {
public:
    Runner(const Options& o, const std::vector<std::string>& targets, unsigned channels) : o_(o), keys_(o)
    {
        for (unsigned i = 0; i < channels * targets.size(); ++i)
            stubs_.push_back(etcdserverpb::KV::NewStub(own_channel(targets[i % targets.size()])));
        for (unsigned i = 0; i < o.connections; ++i) {
            calls_.push_back(std::make_unique<Call>());
            calls_.back()->stub = stubs_[i % stubs_.size()].get();
        }
        for (unsigned i = 0; i < o.watchers; ++i)
            watchers_.push_back(std::make_unique<Watcher>(targets[i % targets.size()], o));
    }

    ~Runner()
    {
        for (auto& c : calls_)
            if (c->in_flight)
                c->ctx->TryCancel();
        // Every call started must come out of the queue before it goes.
        void* tag = nullptr;
        bool ok = false;
        while (in_flight_ > 0 && cq_.Next(&tag, &ok))
            static_cast<Call*>(tag)->in_flight = false, --in_flight_;
        cq_.Shutdown();
        while (cq_.Next(&tag, &ok)) { }
    }

    // Runs the warm-up and the measured part; returns the measured seconds.
    double run(bool& stalled)
    {
        wait_watches_created();
        Clock::time_point start = Clock::now();
        Clock::time_point measure_from = start;
        bool warming = o_.warmup > 0;
        Clock::time_point end = start + to_duration(warming ? o_.warmup : o_.duration);
        uint64_t events_from = watch_events();
        last_progress_ = start;
        for (auto& c : calls_)
            send(*c, start);
        for (;;) {
            Clock::time_point now = Clock::now();
            if (warming && now >= end) {
                warming = false;
                stats_ = Stats{};
                measure_from = now;
                events_from = watch_events();
                end = now + to_duration(o_.duration);
            }
            if (g_interrupted || (o_.requests ? stats_.answered() >= o_.requests : !warming && now >= end))
                break;
            if (now - last_progress_ >= to_duration(o_.timeout)) {
                stats_.note("no reply for " + std::to_string(o_.timeout) + " s");
                stalled = true;
                break;
            }
            resend_due(now);
            void* tag = nullptr;
            bool ok = false;
            auto wait = std::chrono::system_clock::now() + (waiting_.empty() ? 100ms : 1ms);
            if (cq_.AsyncNext(&tag, &ok, wait) == grpc::CompletionQueue::GOT_EVENT)
                complete(*static_cast<Call*>(tag), ok);
        }
        double seconds = std::chrono::duration<double>(Clock::now() - measure_from).count();
        stats_.watch_events = watch_events() - events_from;
        for (auto& w : watchers_) {
            if (w->ended()) {
                ++stats_.connection_errors;
                stats_.note(w->error());
            }
        }
        return seconds;
    }

    const Stats& stats() const { return stats_; }

private:
    void wait_watches_created()
    {
        Clock::time_point give_up = Clock::now() + to_duration(o_.timeout);
        for (auto& w : watchers_) {
            while (!w->created() && !w->ended() && Clock::now() < give_up && !g_interrupted)
                std::this_thread::sleep_for(1ms);
            if (!w->created())
                throw std::runtime_error("create a watch on " + o_.prefix + ": "
                                         + (w->ended() ? w->error() : "no answer within --timeout"));
        }
    }

    uint64_t watch_events() const
    {
        uint64_t n = 0;
        for (auto& w : watchers_)
            n += w->events();
        return n;
    }

    void send(Call& c, Clock::time_point now)
    {
        c.ctx = std::make_unique<grpc::ClientContext>();
        c.ctx->set_deadline(std::chrono::system_clock::now() + to_duration(o_.timeout));
        c.sent = now;
        c.in_flight = true;
        ++in_flight_;
        if (o_.batch == 1) {
            c.put.set_key(keys_.text(keys_.next()));
            c.put.set_value(keys_.value());
            c.put_reader = c.stub->AsyncPut(c.ctx.get(), c.put, &cq_);
            c.put_reader->Finish(&c.put_reply, &c.status, &c);
            return;
        }
        c.txn.clear_success();
        for (uint32_t k : keys_.distinct(o_.batch)) {
            etcdserverpb::PutRequest* p = c.txn.add_success()->mutable_request_put();
            p->set_key(keys_.text(k));
            p->set_value(keys_.value());
        }
        c.txn_reader = c.stub->AsyncTxn(c.ctx.get(), c.txn, &cq_);
        c.txn_reader->Finish(&c.txn_reply, &c.status, &c);
    }

    void resend_due(Clock::time_point now)
    {
        while (!waiting_.empty() && waiting_.front()->retry_at <= now) {
            send(*waiting_.front(), now);
            waiting_.pop_front();
        }
    }

    // Takes a finished call: counts it, and sends the writer's next.
    void complete(Call& c, bool ok)
    {
        Clock::time_point now = Clock::now();
        c.in_flight = false;
        --in_flight_;
        const char* method = o_.batch == 1 ? "KV.Put: " : "KV.Txn: ";
        grpc::StatusCode code = c.status.error_code();
        if (!ok || code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED
            || code == grpc::StatusCode::CANCELLED) {
            ++stats_.connection_errors;
            stats_.note(method + (ok ? status_text(c.status) : std::string("the call failed")));
            c.retry_at = now + 10ms;
            waiting_.push_back(&c);
            return;
        }
        last_progress_ = now;
        if (c.status.ok() && (o_.batch == 1 || c.txn_reply.succeeded())) {
            stats_.ok += o_.batch;
            stats_.latency.record(
                static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent).count()));
        } else {
            ++stats_.error_replies;
            stats_.note(method + (c.status.ok() ? std::string("the txn did not succeed") : status_text(c.status)));
        }
        send(c, now);
    }

    const Options& o_;
    etcdload::Keys keys_;
    grpc::CompletionQueue cq_;
    std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs_;
    std::vector<std::unique_ptr<Call>> calls_;
    std::vector<std::unique_ptr<Watcher>> watchers_;
    std::deque<Call*> waiting_;
    unsigned in_flight_ = 0;
    Stats stats_;
    Clock::time_point last_progress_{};
};

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    unsigned channels = 1;
    try {
        o = etcdload::parse(argc, argv, kUsage, [&](const std::string& a, const char* v) {
            if (a != "--channels")
                return false;
            channels = static_cast<unsigned>(etcdload::whole(a, v, 1, 64));
            return true;
        });
    } catch (const etcdload::UsageError& e) {
        std::fprintf(stderr, "etcd_grpc_put: %s\n", e.what());
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
        std::vector<std::string> targets = o.to_leader ? std::vector<std::string>{find_leader(o)} : o.endpoints;
        bool stalled = false;
        double seconds = 0;
        Stats stats;
        {
            Runner runner(o, targets, channels);
            seconds = runner.run(stalled);
            stats = runner.stats();
        }
        const char* ending = g_interrupted ? "interrupted" : stalled ? "stalled" : "completed";
        std::string request = o.batch > 1 ? "KV.Txn (" + std::to_string(o.batch) + " puts each)" : "KV.Put";
        request += " over " + std::to_string(channels) + " channel(s) per endpoint";
        etcdload::report({"etcd_grpc_put", "etcd-grpc", request, true}, o, o.to_leader ? "leader" : "spread", targets,
                         stats, seconds, ending);
        std::fflush(stdout);
        if (!stats.first_error.empty())
            std::fprintf(stderr, "etcd_grpc_put: %s\n", stats.first_error.c_str());
        return g_interrupted ? 130 : (stalled || stats.errors() > 0 || stats.answered() == 0) ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "etcd_grpc_put: %s\n", e.what());
        return 1;
    }
}
