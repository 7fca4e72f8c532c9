#!/usr/bin/env python3
"""A deterministic offline proposer for Crucible, for tests (stdlib only).

Usage: offline.py PROGRAMS [--log FILE]

Speaks the proposer protocol (search/src/proposer.rs): reads one JSON request
per line on stdin and answers each with one JSON line
{"round": R, "programs": [...]} on stdout.

PROGRAMS is a text file of rounds. A line starting with "=== " begins a
round; within a round, programs are separated by lines "---". Round R of the
run is answered with the R-th round of the file (the last one again once the
file runs out). A round headed "=== garbage" is answered with a line that is
not JSON, to exercise the host's error handling. Lines starting with "#"
before the first round are comments.

With --log FILE, every request is appended to FILE as received (one JSON
line each), so a test can check what the host sent: parents, failing
cases, coverage, traces, and the diagnostics of rejected proposals.
"""

import json
import sys


def load_rounds(path):
    rounds = []
    current = None
    program = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("=== "):
                if current is not None:
                    current["programs"].append("".join(program).strip())
                current = {"kind": line[4:].strip(), "programs": []}
                rounds.append(current)
                program = []
            elif current is None:
                continue
            elif line.rstrip("\n") == "---":
                current["programs"].append("".join(program).strip())
                program = []
            else:
                program.append(line)
    if current is not None:
        current["programs"].append("".join(program).strip())
    for r in rounds:
        r["programs"] = [p for p in r["programs"] if p]
    return rounds


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: offline.py PROGRAMS [--log FILE]")
    rounds = load_rounds(args[0])
    log = None
    if len(args) >= 3 and args[1] == "--log":
        log = open(args[2], "a", encoding="utf-8")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if log is not None:
            log.write(json.dumps(request) + "\n")
            log.flush()
        n = request.get("round", 1)
        spec = rounds[min(n, len(rounds)) - 1] if rounds else {"kind": "", "programs": []}
        if spec["kind"] == "garbage":
            sys.stdout.write("this is not a response\n")
        else:
            sys.stdout.write(json.dumps({"round": n, "programs": spec["programs"]}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
