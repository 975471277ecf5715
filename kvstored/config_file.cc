// config_file.cc: see config_file.h.
#include "config_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spelling.h"

namespace kv::config_file {

namespace {

// Closes the descriptor when the read is over, however it ends.
struct Fd {
    int fd;
    ~Fd()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

std::string_view trim(std::string_view s)
{
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos)
        return {};
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

// A value in matching single or double quotes loses them, as CLI11 did.
std::string unquote(std::string_view v)
{
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
    return std::string(v);
}

bool is_known(const std::vector<std::string>& keys, const std::string& key)
{
    for (const std::string& k : keys)
        if (k == key)
            return true;
    return false;
}

std::string section_name(const std::string& section)
{
    return section.empty() ? "at the top of the file" : "in [" + section + "]";
}

}  // namespace

bool read(const std::string& path, std::string& text, std::string& error, bool& missing)
{
    missing = false;
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
        missing = errno == ENOENT;
        error = std::string("open: ") + std::strerror(errno);
        return false;
    }
    text.clear();
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(f.fd, buf, sizeof buf);
        if (n == 0)
            return true;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error = std::string("read: ") + std::strerror(errno);
            return false;
        }
        text.append(buf, static_cast<size_t>(n));
    }
}

Parsed parse(std::string_view text)
{
    Parsed out;
    std::string section;
    int line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.empty() || line.front() == '#' || line.front() == ';')
            continue;
        if (line.front() == '[') {
            if (line.back() != ']' || line.size() < 3) {
                out.problems.push_back({line_no, "a section header is '[name]'"});
                continue;
            }
            section = std::string(trim(line.substr(1, line.size() - 2)));
            continue;
        }
        size_t eq = line.find('=');
        if (eq == std::string_view::npos || trim(line.substr(0, eq)).empty()) {
            out.problems.push_back({line_no, "expected 'key = value', got '" + std::string(line) + "'"});
            continue;
        }
        Entry e{section, std::string(trim(line.substr(0, eq))), unquote(trim(line.substr(eq + 1))), line_no};
        if (size_t dot = e.key.find('.'); e.section.empty() && dot != std::string::npos) {
            e.section = e.key.substr(0, dot);
            e.key = e.key.substr(dot + 1);
        }
        out.entries.push_back(std::move(e));
    }
    return out;
}

std::vector<Problem> check_keys(const std::vector<Entry>& entries, const Known& known)
{
    std::vector<std::string> sections;
    for (const auto& [name, keys] : known)
        if (!name.empty())
            sections.push_back(name);
    std::vector<Problem> out;
    for (const Entry& e : entries) {
        auto it = known.find(e.section);
        if (it == known.end()) {
            std::string guess = spelling::nearest(e.section, sections);
            out.push_back(
                {e.line,
                 "unknown section [" + e.section + "]" + (guess.empty() ? "" : ": did you mean [" + guess + "]?")});
            continue;
        }
        if (is_known(it->second, e.key))
            continue;
        std::string msg = "unknown key '" + e.key + "' " + section_name(e.section);
        const std::string* elsewhere = nullptr;
        for (const auto& [name, keys] : known)
            if (name != e.section && is_known(keys, e.key))
                elsewhere = &name;
        if (elsewhere)
            msg += ": it belongs " + section_name(*elsewhere);
        else if (std::string guess = spelling::nearest(e.key, it->second); !guess.empty())
            msg += ": did you mean " + guess + "?";
        out.push_back({e.line, msg});
    }
    return out;
}

std::string describe(const std::string& path, const Problem& p)
{
    return path + (p.line > 0 ? ":" + std::to_string(p.line) : "") + ": " + p.message;
}

}  // namespace kv::config_file
