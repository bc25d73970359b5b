"""The six messaging webhooks end to end over a real uvicorn and PostgreSQL: a signed
message -> rows -> the answer (in the response, or POSTed by a send_reply job to a local
receiver) -> the operations in /monitoring/metrics and /metrics. Redeliveries are idempotent."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from tests.service.helpers import ADMIN, ADMIN_TOKEN, bearer, scalar, select
from tests.service.webhook_samples import (
    LINE_TOKEN,
    MESSENGER_TOKEN,
    PLATFORMS,
    SLACK_TOKEN,
    TELEGRAM_BOT_TOKEN,
    WHATSAPP_NUMBER_ID,
    WHATSAPP_TOKEN,
    Receiver,
    discord_headers,
    encode,
    line_message,
    post,
    sample,
    slack_message,
    snowflake,
    webhook_settings,
)
from tests.support import running, wait_until

NOT_FOUND = "I didn't find an expense in that"
# Where each platform's answer goes: None = in the HTTP response.
REPLY_PATH = {
    "line": "/line/v2/bot/message/reply",
    "telegram": None,
    "slack": "/slack/chat.postMessage",
    "discord": None,
    "whatsapp": f"/whatsapp/{WHATSAPP_NUMBER_ID}/messages",
    "messenger": "/messenger/me/messages",
}
TOKENS = {
    "line": LINE_TOKEN,
    "slack": SLACK_TOKEN,
    "whatsapp": WHATSAPP_TOKEN,
    "messenger": MESSENGER_TOKEN,
}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    r = Receiver()
    with running(r.app(), lifespan="off") as base:
        yield r, base


@contextlib.contextmanager
def service(database, receiver_base: str | None = None, **overrides: Any) -> Iterator[httpx.Client]:
    settings = Settings(
        database_url=database.url,
        default_currency="TWD",
        admin_token=ADMIN_TOKEN,
        webhooks=webhook_settings(receiver_base, **overrides),
    )
    with running(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def expenses(url: str) -> list[tuple]:
    return select(
        url,
        "SELECT u.platform, u.external_id, e.platform, e.message_id, e.amount::text,"
        " e.currency, e.category, e.description FROM expenses e JOIN users u"
        " ON u.id = e.user_id ORDER BY e.id",
    )


def users(url: str) -> list[tuple]:
    return select(url, "SELECT platform, external_id, display_name FROM users")


def counts(client: httpx.Client) -> dict[str, tuple[int, int]]:
    """operation -> (count, error_count) from /monitoring/metrics."""
    metrics = client.get("/monitoring/metrics").json()
    return {name: (m["count"], m["error_count"]) for name, m in metrics.items()}


def answer_in_response(platform: str, response: httpx.Response) -> str | None:
    body = response.json()
    if platform == "telegram":
        return body.get("text") if body.get("method") == "sendMessage" else None
    if platform == "discord":
        assert body["type"] == 4 and body["data"]["flags"] == 64
        return body["data"]["content"]
    return None


def reply_text(platform: str, payload: dict) -> str:
    return {
        "line": lambda: payload["messages"][0]["text"],
        "slack": lambda: payload["text"],
        "whatsapp": lambda: payload["text"]["body"],
        "messenger": lambda: payload["message"]["text"],
    }[platform]()


# -- the main path, per platform ----------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_message_becomes_one_expense_one_answer_and_counted_operations(
    database, receiver, platform
):
    rec, receiver_base = receiver
    payload, message_id, sender = sample(platform, "lunch 120")
    with service(database, receiver_base) as client:
        first = post(client, platform, payload)
        assert first.status_code == 200, first.text
        expected = "Recorded: lunch 120 TWD (food)"
        path = REPLY_PATH[platform]
        if path is None:
            assert answer_in_response(platform, first) == expected
        else:
            [call] = wait_until(lambda: rec.to(path))
            assert call.headers["authorization"] == f"Bearer {TOKENS[platform]}"
            assert reply_text(platform, call.json) == expected

        # The platform delivers the same message again (a retry): one expense, no new answer.
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        again = post(client, platform, payload, retry if platform == "slack" else None)
        assert again.status_code == 200, again.text
        if platform == "telegram":
            assert "method" not in again.json()
        if platform == "discord":  # an interaction must be answered: say it is there already
            assert answer_in_response(platform, again) == "Already recorded: lunch 120 TWD (food)"

        ops = counts(client)
        exposition = client.get("/metrics").text
        time.sleep(0.3)  # a second reply job, if one had been queued, would have run by now
        assert len(rec.calls) == (0 if path is None else 1)

    assert expenses(database.url) == [
        (platform, sender, platform, message_id, "120.00", "TWD", "food", "lunch")
    ]
    op = f"webhook_{platform}_message"
    assert ops[op] == (2, 0)
    assert f'aiexpense_operations_total{{operation="{op}"}} 2.0' in exposition
    assert f'aiexpense_operation_errors_total{{operation="{op}"}} 0.0' in exposition
    for name in ("auto_signup", "parse_conversation", "suggest_category", "create_expense"):
        assert ops[name] == (2, 0), name
        assert f'aiexpense_operations_total{{operation="{name}"}} 2.0' in exposition
    assert ops.get("send_reply", (0, 0)) == ((0, 0) if path is None else (1, 0))


def test_a_message_with_several_items_records_each_once(database, receiver):
    rec, receiver_base = receiver
    payload = line_message("breakfast 80, bus 30 and coffee 55", message_id="9001")
    with service(database, receiver_base) as client:
        assert post(client, "line", payload).status_code == 200
        assert post(client, "line", payload).status_code == 200  # redelivered
        [call] = wait_until(lambda: rec.to("/line/"))
        time.sleep(0.2)
        assert len(rec.calls) == 1
    assert call.json["replyToken"] == "reply-9001"
    assert call.json["messages"] == [
        {
            "type": "text",
            "text": "Recorded: breakfast 80 TWD (food), bus 30 TWD (transport),"
            " coffee 55 TWD (food)",
        }
    ]
    rows = [(r[3], r[4], r[6], r[7]) for r in expenses(database.url)]
    assert rows == [
        ("9001", "80.00", "food", "breakfast"),
        ("9001#1", "30.00", "transport", "bus"),
        ("9001#2", "55.00", "food", "coffee"),
    ]


def test_a_message_without_an_expense_is_answered_once_and_writes_only_the_user(database, receiver):
    rec, receiver_base = receiver
    payload, _, sender = sample("whatsapp", "hello! how are you 🙂")
    with service(database, receiver_base) as client:
        assert post(client, "whatsapp", payload).status_code == 200
        assert post(client, "whatsapp", payload).status_code == 200
        [call] = wait_until(lambda: rec.to("/whatsapp/"))
        time.sleep(0.2)
        assert len(rec.calls) == 1
        ops = counts(client)
    assert call.json["to"] == sender and call.json["text"] == {"body": NOT_FOUND}
    assert (
        call.json["context"]["message_id"]
        == payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    )
    assert expenses(database.url) == []
    assert users(database.url) == [("whatsapp", sender, "Sheena Nelson")]
    assert ops["webhook_whatsapp_message"] == (2, 0)  # no expense is still a success
    assert "create_expense" not in ops


def test_the_persons_own_history_decides_the_category(database, receiver):
    _, receiver_base = receiver
    with service(database, receiver_base) as client:
        first, _, _ = sample("discord", "zorblax 50")
        r = post(client, "discord", first)
        assert r.json()["data"]["content"] == "Recorded: zorblax 50 TWD (other)"
        [(expense_id,)] = _ids(database.url)
        # The person files it under shopping (through the API, with a token the admin
        # issued them: chat users have none of their own); the next one follows suit.
        with psycopg.connect(database.url) as conn:
            (user_id,) = conn.execute("SELECT user_id FROM expenses").fetchone()
        token = client.post(f"/api/users/{user_id}/tokens", headers=ADMIN).json()["token"]
        change = {"category": "shopping"}
        r = client.patch(f"/api/expenses/{expense_id}", json=change, headers=bearer(token))
        assert r.is_success, r.text
        second, _, _ = sample("discord", "zorblax 70")
        r = post(client, "discord", second)
        assert r.json()["data"]["content"] == "Recorded: zorblax 70 TWD (shopping)"


def _ids(url: str) -> list[tuple[int]]:
    return select(url, "SELECT id FROM expenses ORDER BY id")


# -- platform specifics -------------------------------------------------------------------


def test_telegram_with_a_bot_token_answers_through_a_send_message_job(database, receiver):
    rec, receiver_base = receiver
    payload, _, _ = sample("telegram", "coffee 4.50 USD")
    with service(database, receiver_base, telegram_bot_token=TELEGRAM_BOT_TOKEN) as client:
        r = post(client, "telegram", payload)
        assert r.status_code == 200 and "method" not in r.json()
        [call] = wait_until(lambda: rec.to("/telegram/"))
    assert call.path == f"/telegram/bot{TELEGRAM_BOT_TOKEN}/sendMessage"
    assert call.json == {
        "chat_id": 1111111,
        "text": "Recorded: coffee 4.50 USD (food)",
        "reply_parameters": {
            "message_id": payload["message"]["message_id"],
            "allow_sending_without_reply": True,
        },
    }
    assert users(database.url) == [("telegram", "1111111", "Amy Chen")]


# The database failing as a reply is queued: the disk full on reply_outbox (a fault of
# class 53, insufficient resources, as PostgreSQL raises it).
DISK_FULL = """
    CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
    CREATE TRIGGER disk_full BEFORE INSERT ON reply_outbox
      FOR EACH ROW EXECUTE FUNCTION disk_full();
"""


def test_a_reply_that_could_not_be_queued_leaves_the_message_to_its_redelivery(database, receiver):
    """The claim and the reply are one transaction: a failure as the reply is queued
    answers 503 and claims nothing, so the platform's redelivery is answered."""
    rec, receiver_base = receiver
    payload, _, _ = sample("telegram", "coffee 4.50 USD")
    with service(database, receiver_base, telegram_bot_token=TELEGRAM_BOT_TOKEN) as client:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(DISK_FULL)
        try:
            assert post(client, "telegram", payload).status_code == 503
        finally:
            with psycopg.connect(database.url, autocommit=True) as conn:
                conn.execute("DROP TRIGGER disk_full ON reply_outbox; DROP FUNCTION disk_full()")
        assert scalar(database.url, "SELECT count(*) FROM webhook_deliveries") == 0
        assert len(expenses(database.url)) == 1  # recorded: the redelivery finds it
        assert post(client, "telegram", payload).status_code == 200
        [call] = wait_until(lambda: rec.to("/telegram/"))
        assert call.json["text"] == "Recorded: coffee 4.50 USD (food)"
        assert post(client, "telegram", payload).status_code == 200  # answered: silent
        assert scalar(database.url, "SELECT count(*) FROM reply_outbox") == 1


def test_slack_answers_the_url_verification_challenge(database):
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    payload = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": challenge,
        "type": "url_verification",
    }
    with service(database) as client:
        r = post(client, "slack", payload)
        ops = counts(client)
    assert r.status_code == 200 and r.json() == {"challenge": challenge}
    assert ops["webhook_slack_message"] == (1, 0)


def test_slack_ignores_bots_and_strips_mentions(database, receiver):
    rec, receiver_base = receiver
    ts = f"{int(time.time())}.000100"
    with service(database, receiver_base) as client:
        bot = slack_message("Recorded: taxi 300 TWD", ts=ts, bot_id="B0BOT", subtype="bot_message")
        joined = slack_message("<@U2147483697> has joined", ts=ts + "1", subtype="channel_join")
        for payload in (bot, joined):
            r = post(client, "slack", payload)
            assert r.status_code == 200 and r.json()["ignored"]
        mention = slack_message("<@U0BOT> taxi 300 &amp; tip 20", ts=ts + "2")
        mention["event"]["type"] = "app_mention"
        mention["event"]["thread_ts"] = ts
        assert post(client, "slack", mention).status_code == 200
        [call] = wait_until(lambda: rec.to("/slack/"))
    assert call.json == {
        "channel": "D024BE91L",
        "text": "Recorded: taxi 300 TWD (transport), tip 20 TWD (other)",
        "thread_ts": ts,
    }
    assert [r[7] for r in expenses(database.url)] == ["taxi", "tip"]


def test_discord_ping_message_command_and_modal(database):
    with service(database) as client:
        ping = encode(
            {"type": 1, "id": snowflake(), "application_id": "1", "token": "t", "version": 1}
        )
        r = client.post("/webhook/discord", content=ping, headers=discord_headers(ping))
        assert r.status_code == 200 and r.json() == {"type": 1}

        target = snowflake()
        command = {
            "type": 2,
            "id": snowflake(),
            "token": "t",
            "version": 1,
            "user": {"id": "80351110224678912", "username": "nelly"},  # a DM: no member
            "data": {
                "id": "1",
                "name": "Record expense",
                "type": 3,
                "target_id": target,
                "resolved": {"messages": {target: {"id": target, "content": "taxi 300"}}},
            },
        }
        first = post(client, "discord", command)
        command["id"] = snowflake()  # the same message recorded again by a new interaction
        second = post(client, "discord", command)
        # Another member records the same message: their own expense, not "Already recorded".
        other = {**command, "id": snowflake(), "user": {"id": "80351110224678999"}}
        fourth = post(client, "discord", other)
        modal = {
            "type": 5,
            "id": snowflake(),
            "token": "t",
            "version": 1,
            "user": {"id": "80351110224678912", "username": "nelly"},
            "data": {
                "custom_id": "expense",
                "components": [
                    {"type": 1, "components": [{"type": 4, "custom_id": "t", "value": "tea 60"}]}
                ],
            },
        }
        third = post(client, "discord", modal)
    assert first.json()["data"]["content"] == "Recorded: taxi 300 TWD (transport)"
    assert second.json()["data"]["content"] == "Already recorded: taxi 300 TWD (transport)"
    assert third.json()["data"]["content"] == "Recorded: tea 60 TWD (food)"
    assert fourth.json()["data"]["content"] == "Recorded: taxi 300 TWD (transport)"
    assert [(r[1], r[3], r[7]) for r in expenses(database.url)] == [
        ("80351110224678912", f"{target}:80351110224678912", "taxi"),
        ("80351110224678999", f"{target}:80351110224678999", "taxi"),
        ("80351110224678912", modal["id"], "tea"),
    ]


@pytest.mark.parametrize(
    ("platform", "token"),
    [("whatsapp", "whatsapp-verify-token"), ("messenger", "messenger-verify-token")],
)
def test_meta_subscription_handshake(database, platform, token):
    hub = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    with service(database) as client:
        ok = client.get(f"/webhook/{platform}", params={**hub, "hub.verify_token": token})
        wrong = client.get(f"/webhook/{platform}", params={**hub, "hub.verify_token": "nope"})
        mode = client.get(
            f"/webhook/{platform}",
            params={**hub, "hub.mode": "unsubscribe", "hub.verify_token": token},
        )
        ops = counts(client)
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403 and wrong.json()["field"] == "hub.verify_token"
    assert mode.status_code == 403 and mode.json()["field"] == "hub.mode"
    assert ops[f"webhook_{platform}_message"] == (3, 2)


# -- replies: off without a token, failures counted ---------------------------------------


def test_without_an_access_token_expenses_are_recorded_and_replies_are_off(
    database, receiver, caplog
):
    rec, receiver_base = receiver
    caplog.set_level(logging.WARNING, logger="aiexpense.webhooks")
    with service(database, receiver_base, line_channel_access_token=None) as client:
        for text in ("lunch 120", "dinner 300"):
            payload, _, _ = sample("line", text)
            assert post(client, "line", payload).status_code == 200
        time.sleep(0.2)
        ops = counts(client)
    assert rec.calls == []
    assert "send_reply" not in ops
    assert len(expenses(database.url)) == 2
    off = [r for r in caplog.records if "replies are off" in r.getMessage()]
    assert len(off) == 1 and "LINE_CHANNEL_ACCESS_TOKEN" in off[0].getMessage()


def test_a_reply_the_platform_refuses_is_a_send_reply_error(database, receiver):
    rec, receiver_base = receiver
    with service(database, receiver_base, slack_api_base=f"{receiver_base}/fail") as client:
        payload, _, _ = sample("slack", "lunch 120")
        assert post(client, "slack", payload).status_code == 200
        wait_until(lambda: counts(client).get("send_reply"))
        ops = counts(client)
    assert rec.to("/fail/chat.postMessage")
    assert ops["send_reply"] == (1, 1)
    assert ops["webhook_slack_message"] == (1, 0)  # the expense itself was recorded
    assert len(expenses(database.url)) == 1


def test_an_unconfigured_platform_answers_503_naming_the_variable(database):
    settings = Settings(database_url=database.url)  # no webhook settings at all
    variables = {
        "line": "LINE_CHANNEL_SECRET",
        "telegram": "TELEGRAM_SECRET_TOKEN",
        "slack": "SLACK_SIGNING_SECRET",
        "discord": "DISCORD_PUBLIC_KEY",
        "whatsapp": "WHATSAPP_APP_SECRET",
        "messenger": "MESSENGER_APP_SECRET",
    }
    with running(create_app(settings)) as base, httpx.Client(base_url=base) as client:
        for platform, variable in variables.items():
            payload, _, _ = sample(platform, "lunch 120")
            r = post(client, platform, payload)
            assert r.status_code == 503, platform
            assert r.json()["field"] == variable and variable in r.json()["error"]
        r = client.get(
            "/webhook/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
        )
        assert r.status_code == 503 and r.json()["field"] == "WHATSAPP_VERIFY_TOKEN"
        ops = counts(client)
    assert expenses(database.url) == [] and users(database.url) == []
    for platform in variables:
        assert ops[f"webhook_{platform}_message"][1] >= 1, platform


def test_a_malformed_discord_public_key_stops_the_app_at_creation(database):
    settings = Settings(
        database_url=database.url, webhooks=webhook_settings(discord_public_key="not-hex")
    )
    with pytest.raises(ValueError, match="DISCORD_PUBLIC_KEY"):
        create_app(settings)


def test_unstorable_text_is_cleaned_not_a_server_error(database):
    # JSON may carry lone surrogates ("\ud800") and NULs that neither PostgreSQL text nor a
    # UTF-8 answer can hold: they are removed instead of failing the request.
    payload, message_id, _ = sample("telegram", "lunch\ud800 120\u0000")
    payload["message"]["from"]["first_name"] = "Amy\ud800"
    with service(database) as client:
        r = post(client, "telegram", payload)
        ops = counts(client)
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "Recorded: lunch 120 TWD (food)"
    assert [(e[3], e[7]) for e in expenses(database.url)] == [(message_id, "lunch")]
    assert users(database.url) == [("telegram", "1111111", "Amy Chen")]
    assert ops["webhook_telegram_message"] == (1, 0)
