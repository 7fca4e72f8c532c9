#!/usr/bin/env python3
"""A Crucible proposer backed by any OpenAI-compatible chat endpoint (stdlib only).

Usage:
    crucible evolve TASK --proposer 'python3 guests/proposers/openai_compatible.py'

Environment:
    OPENAI_BASE_URL  the API root, e.g. https://api.openai.com/v1 or
                     http://localhost:8000/v1 (vLLM, llama.cpp server, Ollama);
                     default https://api.openai.com/v1
    OPENAI_MODEL     the model name (required)
    OPENAI_API_KEY   sent as a bearer token if set (local servers need none)
    OPENAI_TIMEOUT   seconds per HTTP request (default 120); keep it below the
                     proposer timeout the run uses
    OPENAI_TEMPERATURE  sampling temperature (default 0.8)

Protocol (search/src/proposer.rs): one JSON request per line on stdin, one JSON
line {"round": R, "programs": [...]} per request on stdout. Each request is
turned into one chat prompt: the language reference, the task, the parents
with their failing cases, uncovered lines and traces, and the diagnostics of
the previous round's rejected programs. Programs are taken from the reply's
fenced code blocks. On any HTTP or parse error the answer is an empty list
and the error goes to stderr, so the run carries on with GP.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request


def prompt(request):
    task = request["task"]
    parts = [
        "You write programs in a small typed language. Its reference follows.",
        request["language"],
        "## Task",
        f"Name: {task['name']}",
        f"Description: {task['description']}",
    ]
    if task.get("signature"):
        parts.append(f"Signature: {task['signature']} (the body is one `return` expression)")
    if task.get("skeleton"):
        parts.append("Skeleton (replace each `__hole_T` by an expression of type T, keep the rest):")
        parts.append(task["skeleton"])
    for parent in request["parents"]:
        parts.append(f"## Parent {parent['id']} (error {parent['error']:.6g}, {parent['hits']} hits)")
        parts.append(parent["program"])
        for case in parent["failing"]:
            parts.append(
                f"- fails on {case['input']}: expected {case['expected']}, got {case['actual']}"
            )
        for line in parent["never_ran"]:
            parts.append(f"- line {line['line']} never ran: {line['text']}")
        if parent["trace"]:
            trace = ", ".join(f"line {t['line']} = {t['value']}" for t in parent["trace"])
            parts.append(f"- values on case {parent['trace'][0]['case']}: {trace}")
    if request["diagnostics"]:
        parts.append("## Your previous programs that were rejected")
        for d in request["diagnostics"]:
            parts.append(f"Rejected ({d['reason']}):\n{d['program']}\n{d['diagnostics']}")
    parts.append(
        f"Write {request['want']} different whole programs that do better. "
        "Put each in its own ``` fenced code block and write nothing else."
    )
    return "\n\n".join(parts)


def complete(text):
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    model = os.environ["OPENAI_MODEL"]
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "temperature": float(os.environ.get("OPENAI_TEMPERATURE", "0.8")),
    }
    headers = {"Content-Type": "application/json"}
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(
        f"{base}/chat/completions", data=json.dumps(body).encode(), headers=headers
    )
    timeout = float(os.environ.get("OPENAI_TIMEOUT", "120"))
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.load(resp)
    return reply["choices"][0]["message"]["content"]


def programs(reply):
    blocks = re.findall(r"```[^\n]*\n(.*?)```", reply, re.S)
    return [b.strip() for b in blocks if b.strip()] or ([reply.strip()] if reply.strip() else [])


def main():
    if "OPENAI_MODEL" not in os.environ:
        sys.exit("openai_compatible.py: set OPENAI_MODEL (and OPENAI_BASE_URL, OPENAI_API_KEY)")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            found = programs(complete(prompt(request)))
        except (urllib.error.URLError, OSError, KeyError, ValueError) as err:
            print(f"openai_compatible.py: round {request['round']}: {err}", file=sys.stderr)
            found = []
        sys.stdout.write(json.dumps({"round": request["round"], "programs": found}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
