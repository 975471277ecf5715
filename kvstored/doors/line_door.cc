// line_door.cc: see line_door.h.
#include "line_door.h"

#include <new>

#include "client.h"
#include "secret.h"
#include "server.h"

namespace kv {

LineDoor::LineDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout)
    : Door(server, owner, std::move(fd), idle_timeout, error_reply, error_reply),
      lines_(server.limits().max_value + kLineOverhead)
{
}

// Never more than one byte past the longest line: then the input we may have
// to hand back (a partly read line) always fits in a HandBack frame.
size_t LineDoor::input_room() const
{
    return lines_.buffered() > lines_.max_line() ? 0 : lines_.max_line() + 1 - lines_.buffered();
}

// Runs the next buffered line, or the next page of a listing before any later
// line.
Door::Step LineDoor::run_step()
{
    if (listing_) {
        if (replies_held())
            return Step::Idle;  // a page may not overtake a held reply; release_durable() resumes
        if (unsent() >= kListingWindow)
            return Step::Blocked;
        if (!budget_.allows_more())
            return Step::Idle;
        send_page();
        return Step::Ran;
    }
    if (owner().auth_pending())
        return Step::Idle;  // its answer (Door::answer) resumes
    if (lines_.buffered() == 0 && !input_ended())
        return Step::Idle;
    if (!budget_.allows_more())
        return Step::Idle;
    std::string_view line;
    switch (lines_.next(line)) {
    case LineSplitter::Next::Line:
        budget_.use();
        handle_line(line);
        return Step::Ran;
    case LineSplitter::Next::TooLong:
        budget_.use();
        queue(too_long_reply(lines_.max_line()), 0);
        return Step::Ran;
    case LineSplitter::Next::NeedMore:
        // kvsvc answers an unterminated last line and ends the session.
        if (input_ended())
            request_hand_back(wire::HandBackReason::EndOfInput, std::string(lines_.take_rest()));
        return Step::Idle;
    }
    return Step::Idle;
}

void LineDoor::handle_line(std::string_view line)
{
    ParseResult parsed = parse_line(line, server().limits().max_value);
    if (parsed.kind == ParseResult::Kind::Error) {
        queue(std::move(parsed.error), 0);
        return;
    }
    if (parsed.kind != ParseResult::Kind::Command)
        return;
    const Command& cmd = parsed.command;
    switch (cmd.verb) {
    case Verb::Connect:
        queue(owner().connect_reply(), 0);
        return;
    case Verb::Auth: {
        std::string now = owner().start_auth(cmd.key, cmd.value, true);
        wipe(line);  // the check has its own copy (secret.h)
        if (!now.empty())
            queue(now, 0);
        return;
    }
    case Verb::Ping:
        queue(std::string(kPongReply), 0);
        return;
    case Verb::Help:
        queue(help_text(), 0);
        return;
    case Verb::Close:
    case Verb::Exit: {
        // kvsvc runs these: return the line itself and everything after it.
        std::string rest(line);
        rest.push_back('\n');
        rest.append(lines_.take_rest());
        request_hand_back(wire::HandBackReason::Command, std::move(rest));
        return;
    }
    default:
        break;
    }
    owner().note_command();
    try {
        std::string text;
        wire::Request req = to_request(cmd);
        if (std::string no = owner().refusal(req); !no.empty()) {
            queue(no, 0);
            return;
        }
        auto run = [&] {
            return execute_for_client(req, server().db(), server().stats(), server().limits(), text, listing_);
        };
        // sync writes nothing: its ticket is Database::sync()'s, and its
        // reply is made when that is released.
        bool sync = req.op == wire::Op::Sync;
        uint64_t ticket = sync ? run() : run_command(server().db(), run);
        if (listing_)
            return;  // a listing's pages follow from run_step()
        if (finish(text, ticket, sync ? AwaitedCommand::Reply::Synced : AwaitedCommand::Reply::Text))
            rerun_line_.assign(line);  // `line` lives in lines_, which the next read may move
    } catch (const std::bad_alloc&) {
        out_of_memory("running a command");
    }
}

// The awaited line again (Door::rerun): it is parsed afresh from the copy.
void LineDoor::rerun()
{
    std::string line = std::move(rerun_line_);
    rerun_line_.clear();
    handle_line(line);  // copies it again if it is awaited again
}

// The next page of the listing in progress; after the last one, later lines
// run again. Pages wait for held replies (run_step()), so they go straight out.
void LineDoor::send_page()
{
    budget_.use();
    try {
        if (!listing_->next_page(server().db().store(), output()))
            listing_.reset();
    } catch (const std::bad_alloc&) {
        out_of_memory("listing");
    }
}

}  // namespace kv
