"""The "refusals" scenario: what refusing bad credentials costs, and whom it slows.

    python -m aiexpense_bench.load --url http://127.0.0.1:8080 --scenario refusals \\
        --users 16 --duration 5

Phases, each ``duration`` seconds after a warm-up:

1. ``victim``: one person reading their own record (``GET /api/users/{id}``), alone.
2. ``malformed``, ``unknown`` (a well-shaped token for an id far above every person's),
   ``wrong_secret`` (a well-shaped token for the victim's id, another secret): ``users``
   connections each, closed loop. Reported: refusals per second, and the database
   statements the service sent meanwhile (the growth of its ``db_*`` operation counts).
3. ``beside_garbage``: the victim beside ``users`` connections of malformed tokens (the
   cost of any refusal load on a shared CPU), then ``under_attack``: beside ``users``
   connections of wrong secrets for the victim's id. The victim's p99 under attack over
   its p99 beside garbage is the figure to watch (1: the attack costs them nothing more).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp

from .loadgen import Request, drive, latency_summary

Maker = Callable[[int, random.Random], Request]
ADMIN_PATH = "/api/users"
KINDS = ("malformed", "unknown", "wrong_secret")


def _token(user_id: int) -> str:
    return f"aiex_{user_id}_{secrets.token_urlsafe(32)}"


async def _statements(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/monitoring/metrics") as r:
        ops = await r.json()
    return sum(op["count"] for name, op in ops.items() if name.startswith("db_"))


def _refusals(kind: str, victim_id: int) -> Maker:
    def make(worker: int, rng: random.Random) -> Request:
        if kind == "malformed":
            token = f"not-a-token-{rng.random()}"
        elif kind == "unknown":
            token = _token(2**62 + rng.randrange(1_000_000))
        else:
            token = _token(victim_id)
        headers = {"Authorization": f"Bearer {token}"}
        return Request(kind, "GET", f"/api/users/{victim_id}", None, headers)

    return make


def _victim(victim_id: int, headers: dict[str, str], attack: Maker | None = None) -> Maker:
    def make(worker: int, rng: random.Random) -> Request:
        if worker == 0 or attack is None:
            return Request("victim", "GET", f"/api/users/{victim_id}", None, headers)
        return attack(worker, rng)

    return make


async def run(
    session: aiohttp.ClientSession,
    url: str,
    *,
    admin: dict[str, str],
    users: int,
    duration: float,
    warmup: float,
    progress: bool,
) -> dict[str, Any]:
    body = {"external_id": f"victim-{secrets.token_hex(4)}", "currency": "USD"}
    async with session.post(url + ADMIN_PATH, json=body, headers=admin) as r:
        r.raise_for_status()
        person = await r.json()
    victim_id, mine = person["id"], {"Authorization": f"Bearer {person['token']}"}
    options = {"duration": duration, "progress": progress}

    async def phase(maker: Maker, n: int, title: str) -> tuple[Any, int]:
        await drive(session, url, maker, users=n, duration=warmup, progress=False)
        before = await _statements(session, url)
        recorder = await drive(session, url, maker, users=n, title=title, **options)
        return recorder, await _statements(session, url) - before

    alone, _ = await phase(_victim(victim_id, mine), 1, "victim")
    result: dict[str, Any] = {
        "scenario": "refusals",
        "users": users,
        "duration": duration,
        "victim_alone_ms": latency_summary(alone.by_label["victim"]),
    }
    for kind in KINDS:
        recorder, statements = await phase(_refusals(kind, victim_id), users, kind)
        sent = recorder.by_label[kind].get_total_count()
        result[kind] = {
            "refusals_per_second": round(recorder.errors[kind] / recorder.elapsed, 1),
            "accepted": sent - recorder.errors[kind],  # must be 0: every one is refused
            "db_statements": statements,
            "latency_ms": latency_summary(recorder.by_label[kind]),
        }
    # The same number of connections sending garbage: what any load of refusals costs the
    # victim (the server's CPU is shared); wrong secrets for the victim's id must cost the
    # victim no more than that.
    garbage = _victim(victim_id, mine, _refusals("malformed", victim_id))
    recorder, _ = await phase(garbage, users + 1, "beside garbage")
    result["victim_beside_garbage_ms"] = latency_summary(recorder.by_label["victim"])
    attack = _victim(victim_id, mine, _refusals("wrong_secret", victim_id))
    recorder, statements = await phase(attack, users + 1, "under attack")
    result["victim_under_attack_ms"] = latency_summary(recorder.by_label["victim"])
    result["attack_db_statements"] = statements
    control = result["victim_beside_garbage_ms"]["p99"]
    under = result["victim_under_attack_ms"]["p99"]
    result["victim_p99_attack_vs_garbage"] = round(under / control, 2) if control else None
    return result
