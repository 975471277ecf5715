#!/usr/bin/python3
"""check_man_pages.py: the manual pages in man/ against the programs.

The pages are hand-written man(7): they need no build step and no tool
beyond groff-base, which every Debian system with man-db has, and groff -ww
is the very check lintian makes of them (scdoc would add a build dependency
and a generated file for a nicer syntax; mdoc would be as good, but man(7)
is the format more people can edit). So nothing generates them from the
code, and this test is what keeps the two from drifting apart:

- every long option (--xxx) on an option line of `kvstored --help`,
  `kvstored SUB --help` (for every subcommand that `kvstored --help` lists),
  `kvsvc --help` and `kvbench --help` is the tag of an entry (.TP/.TQ) in the
  part of the page that documents it: kvstored's global options under
  OPTIONS, a subcommand's under its own `.SS "kvstored SUB ..."`, kvsvc's
  and kvbench's under OPTIONS;
- every subcommand has its .SS section;
- every other --xxx that a --help text mentions appears somewhere in the page;
- every command the line protocol's `help` lists (asked of kvsvc on a pipe,
  which answers `help` without kvstored) has its entry in kvstore(7);
- the .TH line names the programs' version (`kvsvc --version`);
- `groff -ww -z -man PAGE` prints nothing: the check lintian makes
  (manpage-has-errors-from-man) and the warnings `man --warnings` shows.

--self-test then removes each expected option (and command) from the page
in turn and requires the checks to report it, and adds an undefined macro to
each page and requires groff's warning to be reported: the test can fail.

Usage: check_man_pages.py --man-dir DIR --kvstored BIN --kvsvc BIN
                          [--kvbench BIN] [--self-test]
Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

OPTION = re.compile(r"(?<![A-Za-z0-9-])--[a-z0-9][a-z0-9-]*")
# A help line that names options: indented at most 4 columns, then '-'
# (CLI11's "  -h,--help", "  --socket TEXT=..."; kvsvc's "  --socket PATH").
OPTION_LINE = re.compile(r"^ {1,4}-")


def run(argv, stdin_text=None):
    """stdout of argv; raises with argv and stderr when it fails."""
    proc = subprocess.run(argv, input=stdin_text, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def help_options(text):
    """(options on option lines, every --xxx the text mentions)."""
    listed = set()
    for line in text.splitlines():
        if OPTION_LINE.match(line):
            # The option column ends at the first run of two spaces.
            column = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            listed.update(OPTION.findall(column))
    return listed, set(OPTION.findall(text))


def subcommands(top_help):
    """The subcommand names under CLI11's "Subcommands:" heading."""
    names, inside = [], False
    for line in top_help.splitlines():
        if line.startswith("Subcommands:"):
            inside = True
        elif inside and re.match(r"^  [a-z]", line):
            names.append(line.split()[0])
        elif inside and line.strip() and not line.startswith(" "):
            break
    return names


def plain(line):
    """A man(7) source line as text: no macro name, quotes, font escapes."""
    line = re.sub(r"^\.[A-Z]{1,2}\b\s*", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\(aq", "'").replace("\\(rs", "\\")
    return line.replace('"', "")


class Page:
    """A man(7) page split into parts: (SH title, SS title or "") -> the
    tags of its .TP/.TQ entries, and the page's whole text."""

    def __init__(self, source):
        self.parts = {}
        self.text = []
        sh, ss, tag_next = "", "", False
        for raw in source.splitlines():
            if raw.startswith('.\\"'):
                continue
            if raw.startswith(".SH"):
                sh, ss = plain(raw).strip(), ""
                self.parts.setdefault((sh, ss), [])
            elif raw.startswith(".SS"):
                ss = plain(raw).strip()
                self.parts.setdefault((sh, ss), [])
            elif raw.startswith(".TP") or raw.startswith(".TQ"):
                tag_next = True
                continue
            elif tag_next:
                self.parts.setdefault((sh, ss), []).append(plain(raw).strip())
            tag_next = False
            self.text.append(plain(raw))
        self.text = "\n".join(self.text)

    def tags(self, sh, ss=""):
        return self.parts.get((sh, ss), [])

    def subsection(self, sh, first_words):
        """The SS title under sh that starts with first_words, or None."""
        for part_sh, ss in self.parts:
            if part_sh == sh and (ss == first_words or ss.startswith(first_words + " ")):
                return ss
        return None


def tag_options(tags):
    found = set()
    for tag in tags:
        found.update(OPTION.findall(tag))
    return found


def check_options(page, name, where, listed, mentioned, fallback=None):
    """Problems: options of `listed` that are no tag in where (a (SH, SS)
    pair) nor in fallback, and --xxx of `mentioned` absent from the page."""
    problems = []
    documented = tag_options(page.tags(*where))
    if fallback:
        documented |= tag_options(page.tags(*fallback))
    for option in sorted(listed - documented):
        place = where[1] or where[0]
        problems.append(f"{name}: {option} is listed by --help but has no entry under {place}")
    everywhere = set(OPTION.findall(page.text))
    for option in sorted(mentioned - listed - everywhere):
        problems.append(f"{name}: {option} is mentioned by --help but nowhere in the page")
    return problems


def collect(args):
    """What the programs say: a list of (page file, check function taking a
    Page and returning problems, the items --self-test takes out)."""
    checks = []

    top = run([args.kvstored, "--help"])
    top_listed, top_mentioned = help_options(top)
    subs = subcommands(top)
    sub_help = {sub: help_options(run([args.kvstored, sub, "--help"])) for sub in subs}

    def check_kvstored(page):
        problems = check_options(page, "kvstored.8", ("OPTIONS", ""), top_listed, top_mentioned)
        if not subs:
            problems.append("kvstored --help lists no subcommands (has its format changed?)")
        for sub in subs:
            ss = page.subsection("SUBCOMMANDS", "kvstored " + sub)
            if ss is None:
                problems.append(f"kvstored.8: no .SS \"kvstored {sub} ...\" section under SUBCOMMANDS")
                continue
            listed, mentioned = sub_help[sub]
            problems += check_options(page, f"kvstored.8 ({sub})", ("SUBCOMMANDS", ss), listed, mentioned,
                                      fallback=("OPTIONS", ""))
        return problems

    # Self-test items: each option taken out of the whole page, and each
    # subcommand's option taken out of its own section only (it must not
    # pass for being documented under another subcommand).
    items = top_listed | {o for listed, _ in sub_help.values() for o in listed}
    items |= {(sub, o) for sub, (listed, _) in sub_help.items() for o in listed - top_listed}
    checks.append(("kvstored.8", check_kvstored, items))

    kvsvc_listed, kvsvc_mentioned = help_options(run([args.kvsvc, "--help"]))
    checks.append(("kvsvc.8",
                   lambda page: check_options(page, "kvsvc.8", ("OPTIONS", ""), kvsvc_listed, kvsvc_mentioned),
                   kvsvc_listed))

    if args.kvbench:
        bench_listed, bench_mentioned = help_options(run([args.kvbench, "--help"]))
        checks.append(("kvbench.1",
                       lambda page: check_options(page, "kvbench.1", ("OPTIONS", ""), bench_listed, bench_mentioned),
                       bench_listed))

    # The line protocol's commands: kvsvc answers `help` itself, so on a pipe
    # and without kvstored (the socket path need not exist).
    reply = run([args.kvsvc, "--socket", "/nonexistent/kvstored.sock", "--no-handoff"], "help\n")
    lines = reply.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("HELP ")), None)
    commands = [] if head is None else [line.split()[0] for line in lines[head + 1:head + 1 + int(lines[head].split()[1])]]

    def check_kvstore(page):
        if not commands:
            return [f"kvsvc answered 'help' with no command list: {reply!r}"]
        tagged = {tag.split()[0].lower() for tag in page.tags("THE LINE PROTOCOL", "Commands") if tag.split()}
        return [f"kvstore.7: the line protocol's command '{c}' (help) has no entry under Commands"
                for c in commands if c.lower() not in tagged]

    checks.append(("kvstore.7", check_kvstore, set(commands)))
    return checks


def groff_problems(path):
    """What `groff -ww -z -man` says about the page (nothing, when it is fine)."""
    proc = subprocess.run(["groff", "-ww", "-z", "-man", path], capture_output=True, text=True, timeout=30)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or out:
        return [f"{os.path.basename(path)}: groff -ww -z -man (exit {proc.returncode}): {out}"]
    return []


def version_problems(name, source, version):
    """The .TH line must name the programs' version ("kvstore 0.1.0")."""
    th = next((line for line in source.splitlines() if line.startswith(".TH ")), "")
    if f'"kvstore {version}"' not in th:
        return [f"{name}: .TH does not say \"kvstore {version}\" (the version of the programs): {th!r}"]
    return []


def check_all(man_dir, checks, version):
    problems = []
    for name, check, _ in checks:
        path = os.path.join(man_dir, name)
        if not os.path.exists(path):
            problems.append(f"{path}: missing")
            continue
        with open(path, encoding="utf-8") as f:
            source = f.read()
        problems += check(Page(source))
        problems += version_problems(name, source, version)
        problems += groff_problems(path)
    return problems


def without(source, item):
    """The page source with every mention of an option, the option's tags in
    one subcommand's section (item = (subcommand, option)), or the tags of a
    protocol command, taken out."""
    if isinstance(item, tuple):
        sub, option = item
        lines, inside = source.splitlines(), False
        for i, line in enumerate(lines):
            if line.startswith((".SH", ".SS")):
                inside = plain(line).strip().split()[:2] == ["kvstored", sub]
            elif inside and i > 0 and lines[i - 1].startswith((".TP", ".TQ")):
                lines[i] = line.replace(option.replace("-", "\\-"), "").replace(option, "")
        return "\n".join(lines) + "\n"
    if item.startswith("--"):
        escaped = item.replace("-", "\\-")
        return source.replace(escaped, "").replace(item, "")
    lines = source.splitlines()
    for i in range(1, len(lines)):
        if lines[i - 1].startswith((".TP", ".TQ")) and plain(lines[i]).split()[:1] == [item]:
            lines[i] = lines[i].replace(item, "XXX", 1)
    return "\n".join(lines) + "\n"


def self_test(man_dir, checks):
    """The checks report each option or command taken out of a page, and a
    groff warning: returns the ones they missed."""
    missed = []
    with tempfile.TemporaryDirectory(prefix="kv-man-") as tmp:
        for name, check, items in checks:
            with open(os.path.join(man_dir, name), encoding="utf-8") as f:
                source = f.read()
            for item in sorted(items, key=str):
                problems = check(Page(without(source, item)))
                if isinstance(item, tuple):
                    reported = any(f"({item[0]}): {item[1]} " in p for p in problems)
                else:
                    reported = any(f" {item} " in p or f"'{item}'" in p for p in problems)
                if not reported:
                    missed.append(f"{name}: taking out {item} was not reported")
            bad = os.path.join(tmp, name)
            with open(bad, "w", encoding="utf-8") as f:
                f.write(source + ".XQ no such macro\n")
            if not groff_problems(bad):
                missed.append(f"{name}: an undefined macro was not reported by groff -ww")
            print(f"self-test {name}: {len(items)} items taken out one at a time")
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--man-dir", required=True)
    parser.add_argument("--kvstored", required=True)
    parser.add_argument("--kvsvc", required=True)
    parser.add_argument("--kvbench")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()

    checks = collect(args)
    version = run([args.kvsvc, "--version"]).split()[-1]  # "kvsvc 0.1.0"
    problems = check_all(args.man_dir, checks, version)
    for p in problems:
        print("FAIL", p)
    if args.self_test and not problems:
        problems = self_test(args.man_dir, checks)
        for p in problems:
            print("FAIL self-test:", p)
    if not problems:
        print(f"OK: {', '.join(name for name, _, _ in checks)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
