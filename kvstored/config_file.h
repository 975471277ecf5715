// config_file.h: kvstored's configuration file (INI), read and checked here
// before any of it reaches CLI11, so that a mistake in it is reported with the
// file, the line and the key, and so that only `run` and `check-config` refuse
// a bad file: the admin subcommands and --help merely warn (issue 19).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kv::config_file {

// One "key = value" line. `section` is "" above the first [section] header.
struct Entry {
    std::string section;
    std::string key;
    std::string value;
    int line = 0;
};

// What is wrong on one line (0: the whole file), without the file's name.
struct Problem {
    int line = 0;
    std::string message;
};

struct Parsed {
    std::vector<Entry> entries;
    std::vector<Problem> problems;
};

// The file's text. Returns false with `error` set to the errno text
// ("Permission denied") when it cannot be opened or read; `missing` tells
// ENOENT apart, since a missing default file is fine.
bool read(const std::string& path, std::string& text, std::string& error, bool& missing);

// The INI subset kvstored documents: blank lines, comment lines starting with
// '#' or ';', "[section]" headers, and "key = value" (the value may be
// quoted; "section.key = value" above any header is the same as the key in
// [section]). Any other line is a problem.
Parsed parse(std::string_view text);

// The keys each section may hold ("" for the top of the file).
using Known = std::map<std::string, std::vector<std::string>>;

// A problem for every entry whose section or key `known` lacks, naming the
// nearest known one ("did you mean capacity?") or the section the key belongs
// in ("capacity belongs in [run]").
std::vector<Problem> check_keys(const std::vector<Entry>& entries, const Known& known);

// "FILE:LINE: message" (or "FILE: message" for line 0).
std::string describe(const std::string& path, const Problem& p);

}  // namespace kv::config_file
