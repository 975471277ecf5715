// line_door.h: the line protocol (docs/protocol.md) on a handed-off socket.
// kvstored reads the client's lines, parses them with the same parse_line as
// kvsvc, and executes data commands with the same execute() that answers
// Requests, so kvsvc is off the per-request path.
//
// kvstored serves everything except `close` and `exit`/`quit`; for those, for
// the end of the client's input, for the idle timeout, for shutdown and when
// the socket breaks, it hands the socket back (door.h) and kvsvc carries on
// (it says BYE where one is due).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "command.h"
#include "commands.h"
#include "door.h"

namespace kv {

class LineDoor : public Door {
public:
    // An idle timeout of zero means none.
    LineDoor(Server& server, Client& owner, UniqueFd fd, std::chrono::seconds idle_timeout);

private:
    Step run_step() override;
    void take_input(const char* data, size_t len) override { lines_.append(data, len); }
    size_t input_room() const override;
    std::string rest_of_input() override { return std::string(lines_.take_rest()); }
    void rerun() override;
    void handle_line(std::string_view line);
    void send_page();

    LineSplitter lines_;
    // The listing (keys) being sent page by page; later lines wait.
    std::optional<Listing> listing_;
    // The awaited command's line, owned (only with a replicated store).
    std::string rerun_line_;
};

}  // namespace kv
