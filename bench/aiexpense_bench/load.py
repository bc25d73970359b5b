"""The load generator: "Concurrent Signups", "Mixed Operations", the probe scenario and
the refusal of bad credentials (:mod:`.refusals`).

A process of its own, separate from the service it drives over HTTP::

    python -m aiexpense_bench.load --url http://127.0.0.1:8080 --scenario mixed \\
        --users 16 --duration 10 [--rate 400] [-o mixed.json]

Each scenario sets up its data, warms up (caches fill, connections open), reads the
service's own view, runs the measured phase, reads the view again. The service's view
must agree with the client's: every answered API request performs exactly one top-level
operation (``POST /api/users`` one ``auto_signup``, ``GET /api/expenses`` one
``get_expenses``, ...), so the growth of those operations' counts in
``/monitoring/metrics`` must match the client's answered requests within 1%. (The
service's ``total_operations`` grows more: each request also performs cache and database
operations, reported as ``operations_per_request``.)

Requests authenticate as a client of the API would: sign-ups with the admin token
(``$EXPORTER_ADMIN_TOKEN``, else the one the bench's own service is given), everything a
person does with the token their sign-up returned.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from . import probes, refusals
from .loadgen import Request, drive, merge_summaries, summarize
from .results import emit
from .server import BENCH_ADMIN_TOKEN, BENCH_SECRET

AGREEMENT_PERCENT = 1.0
MEMORY_READINGS = 3  # /monitoring/health reads while measuring (each costs the service ~5 ms)

# label -> the operation one answered request of that kind performs
TOP_LEVEL = {
    "signup": "auto_signup",
    "get_expenses": "get_expenses",
    "create_expense": "create_expense",
    "summary": "get_metrics",
    "categories": "list_categories",
    "webhook": "webhook_telegram_message",
}
# The bench's own service is started with this secret when none is set (server.py).
TELEGRAM_SECRET = os.environ.get("TELEGRAM_SECRET_TOKEN", BENCH_SECRET)
ADMIN_TOKEN = os.environ.get("EXPORTER_ADMIN_TOKEN", BENCH_ADMIN_TOKEN)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# The mix of "Mixed Operations" (weights): mostly reads of a person's latest expenses.
MIX = {"get_expenses": 50, "create_expense": 25, "signup": 10, "categories": 10, "summary": 5}


# -- the service's own view --------------------------------------------------------------


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def service_view(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    """``/monitoring/system``, per-operation counts and durations, cache hits and misses."""
    system = await get_json(session, base_url + "/monitoring/system")
    operations = await get_json(session, base_url + "/monitoring/metrics")
    async with session.get(base_url + "/metrics") as response:
        exposition = await response.text()
    return {
        "system": system,
        "counts": {name: op["count"] for name, op in operations.items()},
        "seconds": {name: op["total_duration_seconds"] for name, op in operations.items()},
        "cache": cache_requests(exposition),
    }


def cache_requests(exposition: str) -> dict[str, float]:
    """Cache lookups by result (``hit``/``miss``), summed over caches, from ``/metrics``."""
    totals = {"hit": 0.0, "miss": 0.0}
    for family in text_string_to_metric_families(exposition):
        if family.name.endswith("_cache_requests"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    totals[sample.labels["result"]] += sample.value
    return totals


def compare_views(
    before: dict[str, Any], after: dict[str, Any], answered: dict[str, int]
) -> dict[str, Any]:
    """What the service saw during the measured phase, and whether it agrees with the client."""

    def delta(key: str, name: str) -> float:
        return after[key].get(name, 0) - before[key].get(name, 0)

    expected = {TOP_LEVEL[label]: n for label, n in answered.items() if label in TOP_LEVEL}
    seen = {op: delta("counts", op) for op in expected}
    total_ops = after["system"]["total_operations"] - before["system"]["total_operations"]
    hits = after["cache"]["hit"] - before["cache"]["hit"]
    return service_figures(
        instrumented=total_ops > 0 or sum(expected.values()) == 0,
        client_counts=expected,
        service_counts=seen,
        operations_total=total_ops,
        service_seconds=sum(delta("seconds", op) for op in expected),
        cache_hits=hits,
        cache_lookups=hits + after["cache"]["miss"] - before["cache"]["miss"],
        cache_hit_rate_lifetime_percent=after["system"].get("cache_hit_rate"),
    )


def service_figures(**raw: Any) -> dict[str, Any]:
    """The raw counts plus what follows from them (kept raw so rounds can be summed)."""
    client, service = sum(raw["client_counts"].values()), sum(raw["service_counts"].values())
    difference = 100.0 * abs(service - client) / client if client else 0.0
    lookups = raw["cache_lookups"]
    return {
        **raw,
        "difference_percent": round(difference, 3),
        "agree": (difference <= AGREEMENT_PERCENT) if raw["instrumented"] else None,
        "operations_per_request": round(raw["operations_total"] / client, 2) if client else None,
        "avg_ms": round(1000 * raw["service_seconds"] / service, 3) if service else None,
        "cache_hit_rate_percent": (
            round(100.0 * raw["cache_hits"] / lookups, 2) if lookups else None
        ),
    }


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one scenario as one run: histograms added, service counts summed."""
    if len(runs) == 1:
        return runs[0]
    parts = [r["service"] for r in runs]

    def add(key: str) -> float:
        return sum(p[key] for p in parts)

    def add_counts(key: str) -> dict[str, int]:
        return {op: sum(p[key].get(op, 0) for p in parts) for op in parts[0][key]}

    service = service_figures(
        instrumented=all(p["instrumented"] for p in parts),
        client_counts=add_counts("client_counts"),
        service_counts=add_counts("service_counts"),
        operations_total=add("operations_total"),
        service_seconds=add("service_seconds"),
        cache_hits=add("cache_hits"),
        cache_lookups=add("cache_lookups"),
        cache_hit_rate_lifetime_percent=parts[-1]["cache_hit_rate_lifetime_percent"],
    )
    service["agree"] = service["agree"] and all(p["agree"] for p in parts)
    service["rss_peak_bytes"] = max((p["rss_peak_bytes"] or 0 for p in parts), default=0) or None
    return {
        **runs[0],
        "duration": sum(r["duration"] for r in runs),
        "rounds": len(runs),
        **merge_summaries(runs),
        "service": service,
    }


async def watch_memory(
    session: aiohttp.ClientSession, base_url: str, every: float, peak: list[int]
) -> None:
    """Keep the highest resident memory ``/monitoring/health`` reports (``alloc_bytes``)."""
    while True:
        await asyncio.sleep(every)
        try:
            health = await get_json(session, base_url + "/monitoring/health")
            peak[0] = max(peak[0], health["memory"]["alloc_bytes"])
        except (aiohttp.ClientError, KeyError):
            pass  # a 503 while unhealthy has no body worth reading; keep watching


# -- scenarios ---------------------------------------------------------------------------


def signups(run: str) -> Callable[[int, random.Random], Request]:
    """Concurrent Signups: every request signs up a person never seen before."""
    numbers = itertools.count()

    def next_request(worker: int, rng: random.Random) -> Request:
        body = {"external_id": f"load-{run}-{next(numbers)}", "currency": "USD"}
        return Request("signup", "POST", "/api/users", body, ADMIN)

    return next_request


def telegram(run: str) -> Callable[[int, random.Random], Request]:
    """A chat message through the Telegram webhook, end to end: signature check, sign-up,
    parse, suggest, create, reply (in the HTTP answer: no bot token is configured)."""
    numbers = itertools.count(1)
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    chat_base = int(run, 16) * 1000  # a run of its own: its messages are all new

    def next_request(worker: int, rng: random.Random) -> Request:
        n, chat = next(numbers), chat_base + worker
        message = {
            "message_id": n,
            "date": int(time.time()),
            "text": "lunch 120",
            "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
            "chat": {"id": chat, "type": "private"},
        }
        update = {"update_id": n, "message": message}
        return Request("webhook", "POST", "/webhook/telegram", update, headers)

    return next_request


Person = tuple[str, int, dict[str, str]]  # external id, user id, their token's headers


async def create_people(
    session: aiohttp.ClientSession, base_url: str, run: str, people: int, expenses: int
) -> list[Person]:
    """``people`` persons with ``expenses`` expenses each."""
    limit = asyncio.Semaphore(16)

    async def one(n: int) -> Person:
        external_id = f"mix-{run}-{n}"
        async with limit:
            body = {"external_id": external_id, "currency": "USD"}
            async with session.post(base_url + "/api/users", json=body, headers=ADMIN) as r:
                r.raise_for_status()
                user = await r.json()
            user_id, headers = user["id"], {"Authorization": f"Bearer {user['token']}"}
            for i in range(expenses):
                body = {
                    "user_id": user_id,
                    "amount": f"{5 + i}.50",
                    "category": "food",
                    "description": f"setup {i}",
                }
                url = base_url + "/api/expenses"
                async with session.post(url, json=body, headers=headers) as r:
                    r.raise_for_status()
        return external_id, user_id, headers

    return list(await asyncio.gather(*(one(n) for n in range(people))))


def mixed(people: list[Person]) -> Callable[[int, random.Random], Request]:
    """Mixed Operations: reads, writes, returning sign-ups, categories and summaries."""
    labels, weights = list(MIX), list(MIX.values())

    def next_request(worker: int, rng: random.Random) -> Request:
        external_id, user_id, me = rng.choice(people)
        label = rng.choices(labels, weights)[0]
        if label == "get_expenses":
            return Request(label, "GET", f"/api/expenses?user_id={user_id}&limit=100", None, me)
        if label == "create_expense":
            body = {
                "user_id": user_id,
                "amount": f"{rng.randint(1, 500)}.25",
                "category": rng.choice(("food", "transport", "shopping")),
                "description": "load",
            }
            return Request(label, "POST", "/api/expenses", body, me)
        if label == "signup":
            return Request(label, "POST", "/api/users", {"external_id": external_id}, ADMIN)
        if label == "summary":
            return Request(label, "GET", f"/api/users/{user_id}/summary", None, me)
        return Request(label, "GET", "/api/categories")

    return next_request


async def run_scenario(args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=args.users + 4)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if args.scenario == "probes":
            return await probes.run(
                session,
                args.url,
                users=args.users,
                duration=args.duration,
                rate=args.rate,
                warmup=args.warmup,
                slices=args.slices,
                progress=not args.quiet,
            )
        if args.scenario == "refusals":
            return await refusals.run(
                session,
                args.url,
                admin=ADMIN,
                users=args.users,
                duration=args.duration,
                warmup=args.warmup,
                progress=not args.quiet,
            )
        next_request = await prepare(session, args)
        return await measure(session, args, next_request)


async def prepare(
    session: aiohttp.ClientSession, args: argparse.Namespace
) -> Callable[[int, random.Random], Request]:
    """The scenario's request maker, after any data it needs has been set up."""
    run = uuid.uuid4().hex[:8]  # names of this run's own: every person in it is new
    if args.scenario == "signups":
        return signups(run)
    if args.scenario == "webhook":
        return telegram(run)
    people = await create_people(session, args.url, run, args.people, args.expenses)
    return mixed(people)


async def measure(
    session: aiohttp.ClientSession,
    args: argparse.Namespace,
    next_request: Callable[[int, random.Random], Request],
) -> dict[str, Any]:
    """Warm up, read the service's view, drive the measured phase, read the view again."""
    options = {"users": args.users, "rate": args.rate, "progress": not args.quiet}
    await drive(session, args.url, next_request, duration=args.warmup, title="warm-up", **options)
    before = await service_view(session, args.url)
    peak = [0]
    every = args.duration / (MEMORY_READINGS + 1)
    watcher = asyncio.create_task(watch_memory(session, args.url, every, peak))
    recorder = await drive(
        session, args.url, next_request, duration=args.duration, title=args.scenario, **options
    )
    watcher.cancel()
    after = await service_view(session, args.url)
    service = compare_views(before, after, dict(recorder.responses))
    service["rss_peak_bytes"] = peak[0] or None
    return {
        "scenario": args.scenario,
        "url": args.url,
        "users": args.users,
        "duration": args.duration,
        "rate": args.rate,
        "warmup": args.warmup,
        **summarize(recorder, args.duration),
        "service": service,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aiexpense_bench.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--scenario",
        choices=("signups", "mixed", "webhook", "probes", "categories", "refusals"),
        default="mixed",
    )
    p.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s over all users (0: closed loop, as fast as answered)",
    )
    p.add_argument("--people", type=int, default=100, help="persons in the mixed scenario")
    p.add_argument("--expenses", type=int, default=5, help="expenses each person starts with")
    p.add_argument("--slices", type=int, default=6, help="probe turns (a multiple of 3)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("-o", "--output", help="write the result here as JSON (default: stdout)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.url = args.url.rstrip("/")
    result = asyncio.run(run_scenario(args))
    emit(result, args.output, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
