"""The mixed API load for wrk (in C): the same mix as ``load.mixed``, each person's requests
carrying that person's own token, as a Lua script of prepared requests.

A Python load generator needs a core of its own on this 2-core machine; wrk leaves the
cores to the service. ``prepare`` signs the people up and writes the script::

    python -m aiexpense_bench.wrk_mix --url http://127.0.0.1:8080 -o mix.lua
    wrk -t1 -c16 -d10s -s mix.lua http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import uuid

import aiohttp

from . import load

REQUESTS = 2000  # prepared requests; each connection walks them from its own offset


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here (ASCII)


def lua_script(requests: list[tuple[str, str, dict[str, str], str | None]]) -> str:
    """A wrk script answering ``request()`` from ``requests`` in turn, per connection."""
    rows = []
    for method, path, headers, body in requests:
        hs = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        b = "nil" if body is None else _lua_string(body)
        rows.append(f"wrk.format({_lua_string(method)}, {_lua_string(path)}, {{{hs}}}, {b})")
    return (
        "local reqs = {}\n"
        "init = function(args)\n"
        + "".join(f"  reqs[{i + 1}] = {row}\n" for i, row in enumerate(rows))
        + "end\n"
        "local n = 0\n"
        "setup = function(thread) end\n"
        "request = function()\n"
        "  n = n + 1\n"
        f"  if n > {len(rows)} then n = 1 end\n"
        "  return reqs[n]\n"
        "end\n"
    )


def requests_of(people: list[load.Person], count: int, seed: int = 7) -> list:
    make, rng, out = load.mixed(people), random.Random(seed), []
    for _ in range(count):
        r = make(0, rng)
        headers = dict(r.headers or {})
        body = None
        if r.json is not None:
            body = json.dumps(r.json)
            headers["Content-Type"] = "application/json"
        out.append((r.method, r.path, headers, body))
    return out


async def prepare(url: str, people: int, expenses: int, count: int = REQUESTS) -> str:
    async with aiohttp.ClientSession() as session:
        made = await load.create_people(session, url, uuid.uuid4().hex[:8], people, expenses)
    return lua_script(requests_of(made, count))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.wrk_mix", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--people", type=int, default=200)
    p.add_argument("--expenses", type=int, default=5)
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    script = asyncio.run(prepare(args.url.rstrip("/"), args.people, args.expenses))
    with open(args.output, "w") as f:
        f.write(script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
