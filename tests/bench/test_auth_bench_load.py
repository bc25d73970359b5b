"""The load generator's requests authenticate: against a real service that requires
tokens, every request of the signups and mixed scenarios is answered 2xx, and each
person's requests carry that person's own token."""

from __future__ import annotations

import random
from collections import Counter

import aiohttp

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense_bench import load
from aiexpense_bench.loadgen import send
from tests.support import running


async def test_the_mixed_and_signup_scenarios_are_all_answered_2xx(database):
    app = create_app(Settings(database_url=database.url, admin_token=load.ADMIN_TOKEN))
    with running(app) as base:
        async with aiohttp.ClientSession() as session:
            people = await load.create_people(session, base, "t1", people=6, expenses=2)
            assert len({headers["Authorization"] for _, _, headers in people}) == 6
            rng = random.Random(7)
            statuses: Counter[tuple[str, int]] = Counter()
            for maker in (load.mixed(people), load.signups("t1")):
                for _ in range(150):
                    request = maker(0, rng)
                    statuses[request.label, await send(session, base, request)] += 1
            # without the tokens the same requests are refused: the 2xx above are earned
            (_, user_id, _) = people[0]
            async with session.get(f"{base}/api/expenses?user_id={user_id}") as r:
                assert r.status == 401
    assert {label for label, _ in statuses} == set(load.MIX)
    assert all(200 <= status < 300 for _, status in statuses), statuses
