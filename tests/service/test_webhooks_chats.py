"""What a chat does beyond one new message, over a real uvicorn and PostgreSQL: group chats
(only messages addressed to the bot), captions, edits and unsends, batches with a bad item,
WhatsApp senders known only by their business-scoped user id, and signed payloads with
absurd timestamps that must still be recorded, never answered 503."""

from __future__ import annotations

import copy
import datetime as dt
import time

import psycopg
import pytest

from tests.service.helpers import ADMIN, bearer, select
from tests.service.test_webhooks import expenses, receiver, service  # noqa: F401 (receiver: fixture)
from tests.service.webhook_samples import (
    TELEGRAM_BOT_TOKEN,
    WHATSAPP_NUMBER_ID,
    discord_command,
    line_message,
    messenger_message,
    post,
    sample,
    slack_message,
    snowflake,
    telegram_message,
    whatsapp_message,
)
from tests.support import wait_until

BOT_ID = int(TELEGRAM_BOT_TOKEN.partition(":")[0])
GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Flatmates"}
# Lines people write in a group that are not expenses for the bot, numbers and all.
CHATTER = [
    "order #12345 has shipped",
    "we need 3 more chairs",
    "see you at 3pm in room 402",
    "flight BR 198 lands at 6",
    "the score was 3 to 1",
    "happy 30th birthday!",
    "2 more days until the launch",
    "table for 4 please",
    "version 2.5 is out",
    "I walked 10000 steps today",
    "invoice 20231101 is paid",
    "gate 12 closes soon",
    "see you in 5 minutes",
    "we got 100 signups",
    "rent 15000 is due on the 5th, don't forget",
]


def rows(url: str) -> list[tuple]:
    """(external id, message id, amount, description, spent_on) of every expense."""
    return select(
        url,
        "SELECT u.external_id, e.message_id, e.amount::text, e.description, e.spent_on"
        " FROM expenses e JOIN users u ON u.id = e.user_id ORDER BY e.id",
    )


def telegram_group(text: str, message_id: int, **extra) -> dict:
    payload = telegram_message(text, message_id=message_id, chat_id=GROUP["id"])
    payload["message"]["chat"] = GROUP
    payload["message"].update(extra)
    return payload


# -- signed, odd, but a real message: recorded (the five that answered 503) ---------------


def _whatsapp_unhashable_wa_id(text):
    payload, mid, sender = sample("whatsapp", text)
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = ["16315551181"]
    return payload, mid, sender


def _timestamp(platform, value):
    def build(text):
        payload, mid, sender = sample(platform, text)
        if platform == "line":
            payload["events"][0]["timestamp"] = value
        elif platform == "messenger":
            payload["entry"][0]["messaging"][0]["timestamp"] = value
        else:
            payload["message"]["date"] = value
        return payload, mid, sender

    return build


@pytest.mark.parametrize(
    "build",
    [
        _whatsapp_unhashable_wa_id,
        _timestamp("line", 10**400),
        _timestamp("messenger", 10**400),
        _timestamp("telegram", 10**12),  # year 33658: past datetime's range
        _timestamp("telegram", -(10**11)),  # before year 1
        _timestamp("telegram", 253402300799),  # 9999-12-31: dated now, not in year 9999
        _timestamp("telegram", -62135596800),  # 0001-01-01: "yesterday" overflowed (503)
        _timestamp("line", 1.5e300),
        _timestamp("messenger", "soon"),
    ],
    ids=[
        "wa_id-list",
        "line-1e400",
        "messenger-1e400",
        "tg-y33658",
        "tg-y0",
        "tg-y9999",
        "tg-0001-01-01",
        "line-float",
        "messenger-string",
    ],
)
def test_odd_fields_of_a_real_message_are_recorded_not_503(database, receiver, build):  # noqa: F811
    _, base = receiver
    payload, message_id, sender = build("lunch 120 yesterday")
    platform = _platform(payload)
    with service(database, base) as client:
        r = post(client, platform, payload)
    assert r.status_code == 200, r.text
    yesterday = dt.date.today() - dt.timedelta(days=1)
    assert rows(database.url) == [(sender, message_id, "120.00", "lunch", yesterday)]


def _platform(payload: dict) -> str:
    if "events" in payload:
        return "line"
    if "update_id" in payload:
        return "telegram"
    return "whatsapp" if payload["object"] == "whatsapp_business_account" else "messenger"


# -- batches: one bad item never costs the others ------------------------------------------


def test_whatsapp_username_sender_and_a_bad_message_do_not_abort_the_batch(database, receiver):  # noqa: F811
    rec, base = receiver
    bsuid = "US.13491208655302741918"
    payload = whatsapp_message("taxi 250", wamid="wamid.A1")
    value = payload["entry"][0]["changes"][0]["value"]
    username, ordinary = value["messages"][0], copy.deepcopy(value["messages"][0])
    username.update({"from": "", "from_user_id": bsuid, "id": "wamid.A1"})
    ordinary.update({"id": "wamid.A2", "text": {"body": "coffee 55"}})
    broken = {"from": "16315551181", "type": "text", "text": {"body": "tea 40"}}  # no id
    value["messages"] = [broken, username, ordinary]
    value["contacts"].append({"profile": {"name": "Uma"}, "user_id": bsuid})
    with service(database, base) as client:
        r = post(client, "whatsapp", payload)
        calls = wait_until(lambda: len(rec.to("/whatsapp/")) == 2 and rec.to("/whatsapp/"))
        ops = client.get("/monitoring/metrics").json()["webhook_whatsapp_message"]
    assert r.status_code == 200 and r.json()["field"] == "message.id", r.text
    assert ops["error_count"] == 1  # the skipped message is counted, the others recorded
    assert [(x[0], x[1], x[3]) for x in rows(database.url)] == [
        (bsuid, "wamid.A1", "taxi"),
        ("16315551181", "wamid.A2", "coffee"),
    ]
    by_id = {c.json["context"]["message_id"]: c.json for c in calls}
    assert by_id["wamid.A1"]["recipient"] == bsuid and "to" not in by_id["wamid.A1"]
    assert by_id["wamid.A2"]["to"] == "16315551181"
    assert all(c.path == f"/whatsapp/{WHATSAPP_NUMBER_ID}/messages" for c in calls)
    with psycopg.connect(database.url) as conn:
        names = dict(conn.execute("SELECT external_id, display_name FROM users").fetchall())
    assert names == {bsuid: "Uma", "16315551181": "Sheena Nelson"}


def test_every_batch_level_keeps_its_good_items(database, receiver):  # noqa: F811
    line = line_message("dinner 300", message_id="7001")
    bad = copy.deepcopy(line["events"][0])
    del bad["message"]["id"]
    line["events"][:0] = [bad, 7]  # a malformed event, and an event that is not an object
    messenger = messenger_message("bus 30", mid="m.1")
    messenger["entry"][:0] = [
        {"id": "1", "messaging": [{"message": {"mid": "m.0", "text": "tea 40"}}]},
        {"id": "2", "messaging": "not an array"},
    ]
    whatsapp = whatsapp_message("coffee 55", wamid="wamid.B1")
    whatsapp["entry"][:0] = [{"id": "3", "changes": 5}, {"id": "4", "changes": ["x"]}]
    with service(database, receiver[1]) as client:
        r1 = post(client, "line", line)
        r2 = post(client, "messenger", messenger)
        r3 = post(client, "whatsapp", whatsapp)
    assert r1.status_code == 200 and r1.json()["field"] == "message.id", r1.text
    assert "2 item(s) skipped" in r1.json()["ignored"]
    assert r2.status_code == 200 and r2.json()["field"] == "messaging.sender", r2.text
    assert r3.status_code == 200 and r3.json()["field"] == "entry.changes", r3.text
    assert [(x[1], x[3]) for x in rows(database.url)] == [
        ("7001", "dinner"),
        ("m.1", "bus"),
        ("wamid.B1", "coffee"),
    ]


# -- group chats ---------------------------------------------------------------------------


def test_telegram_group_records_only_what_is_addressed_to_the_bot(database, receiver):  # noqa: F811
    rec, base = receiver
    settings = {"telegram_bot_token": TELEGRAM_BOT_TOKEN, "telegram_bot_username": "ExpenseBot"}
    addressed = [
        ("/expense 120 lunch", {}, "lunch"),
        ("/expense@ExpenseBot taxi 250", {}, "taxi"),
        ("@expensebot coffee 55", {}, "coffee"),
        (
            "dinner 300",
            {
                "reply_to_message": {
                    "message_id": 1,
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Expense"},
                }
            },
            "dinner",
        ),
    ]
    others = [
        ("/expense@OtherBot 99 tea", {}),  # another bot's command
        (
            "tea 40",
            {
                "reply_to_message": {
                    "message_id": 2,
                    "from": {"id": 42, "is_bot": False, "first_name": "Bo"},
                }
            },
        ),
    ]
    with service(database, base, **settings) as client:
        for n, text in enumerate(CHATTER):
            r = post(client, "telegram", telegram_group(text, 100 + n))
            assert r.status_code == 200 and "ignored" in r.json(), (text, r.text)
        for n, (text, extra) in enumerate(others):
            assert (
                "ignored" in post(client, "telegram", telegram_group(text, 200 + n, **extra)).json()
            )
        for n, (text, extra, _) in enumerate(addressed):
            assert (
                post(client, "telegram", telegram_group(text, 300 + n, **extra)).status_code == 200
            )
        wait_until(lambda: len(rec.to("/telegram/")) == len(addressed))
    assert [x[3] for x in rows(database.url)] == [word for _, _, word in addressed]
    assert {c.json["chat_id"] for c in rec.to("/telegram/")} == {GROUP["id"]}


def test_slack_channel_records_mentions_and_bot_threads_only(database, receiver):  # noqa: F811
    rec, base = receiver

    def channel(text, n, **extra):
        payload = slack_message(
            text,
            ts=f"{int(time.time())}.{n:06d}",
            channel="C0GENERAL",
            channel_type="channel",
            **extra,
        )
        return payload

    with service(database, base) as client:
        for n, text in enumerate(CHATTER):
            r = post(client, "slack", channel(text, n))
            assert r.status_code == 200 and "ignored" in r.json(), (text, r.text)
        mention = channel("<@U0BOT> lunch 120", 100)
        as_app_mention = copy.deepcopy(mention)
        as_app_mention["event"]["type"] = "app_mention"
        in_thread = channel("taxi 250", 101, thread_ts="1.000001", parent_user_id="U0BOT")
        for payload in (mention, as_app_mention, in_thread):  # the mention arrives twice
            assert post(client, "slack", payload).status_code == 200
        wait_until(lambda: len(rec.to("/slack/")) == 2)
        time.sleep(0.2)  # a third reply, had one been queued, would have come by now
    assert [x[3] for x in rows(database.url)] == ["lunch", "taxi"]
    assert len(rec.to("/slack/")) == 2


def test_line_group_records_mentions_and_commands(database, receiver):  # noqa: F811
    def group(text, mid, mention=None):
        payload = line_message(text, message_id=mid)
        payload["events"][0]["source"] = {"type": "group", "groupId": "Cg1", "userId": "U4af"}
        if mention:
            payload["events"][0]["message"]["mention"] = {"mentionees": [mention]}
        return payload

    with service(database, receiver[1]) as client:
        for n, text in enumerate(CHATTER):
            post(client, "line", group(text, f"80{n:02d}"))
        other = {"index": 0, "length": 4, "type": "user", "userId": "U9", "isSelf": False}
        post(client, "line", group("@Bo tea 40", "8100", other))
        me = {"index": 0, "length": 11, "type": "user", "isSelf": True}
        post(client, "line", group("@ExpenseBot coffee 55", "8101", me))
        post(client, "line", group("/expense 120 lunch", "8102"))
    assert [(x[1], x[3]) for x in rows(database.url)] == [("8101", "coffee"), ("8102", "lunch")]


def test_whatsapp_group_records_commands_and_replies_to_the_business(database, receiver):  # noqa: F811
    rec, base = receiver

    def group(text, wamid, context=None):
        payload = whatsapp_message(text, wamid=wamid)
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        message["group_id"] = "120363025246125888@g.us"
        if context:
            message["context"] = context
        return payload

    with service(database, base) as client:
        for n, text in enumerate(CHATTER):
            post(client, "whatsapp", group(text, f"wamid.G{n}"))
        post(client, "whatsapp", group("/expense 120 lunch", "wamid.C1"))
        post(client, "whatsapp", group("taxi 250", "wamid.C2", {"from": "15550783881", "id": "x"}))
        post(client, "whatsapp", group("tea 40", "wamid.C3", {"from": "16505551234", "id": "y"}))
        calls = wait_until(lambda: len(rec.to("/whatsapp/")) == 2 and rec.to("/whatsapp/"))
    assert {(c.json["recipient_type"], c.json["to"]) for c in calls} == {
        ("group", "120363025246125888@g.us")
    }
    assert [(x[1], x[3]) for x in rows(database.url)] == [
        ("wamid.C1", "lunch"),
        ("wamid.C2", "taxi"),
    ]


# Every platform's chat kinds: one-to-one records "lunch 120" as it is, a group only when
# the message is addressed to the bot (these are not). A kind the platform adds later is read
# as a group (Slack's app_home was recorded as group chatter: never again).
def _slack(kind):
    def build(text):
        payload, _, _ = sample("slack", text)
        payload["event"]["channel_type"] = kind
        return payload

    return build


def _telegram(kind):
    def build(text):
        payload, _, _ = sample("telegram", text)
        if kind != "private":
            payload["message"]["chat"] = {**GROUP, "type": kind}
        return payload

    return build


def _line(kind):
    def build(text):
        payload, _, _ = sample("line", text)
        source = {"type": kind, "userId": "U4af4980629"}
        if kind != "user":
            source[f"{kind}Id"] = "Cg1"
        payload["events"][0]["source"] = source
        return payload

    return build


def _discord(guild):
    def build(text):
        payload = discord_command(text, interaction_id=snowflake())
        if not guild:  # a DM: the person is `user`, no guild, no member
            payload["user"] = payload.pop("member")["user"]
            del payload["guild_id"]
        return payload

    return build


def _whatsapp(group):
    def build(text):
        payload, _, _ = sample("whatsapp", text)
        if group:
            message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
            message["group_id"] = "120363025246125888@g.us"
        return payload

    return build


def _messenger(text):
    return sample("messenger", text)[0]


CHAT_KINDS = [
    ("slack", "im", _slack("im"), True),
    ("slack", "app_home", _slack("app_home"), True),
    ("slack", "mpim", _slack("mpim"), False),
    ("slack", "channel", _slack("channel"), False),
    ("slack", "group", _slack("group"), False),
    ("slack", "unknown", _slack("huddle_thread"), False),
    ("telegram", "private", _telegram("private"), True),
    ("telegram", "group", _telegram("group"), False),
    ("telegram", "supergroup", _telegram("supergroup"), False),
    ("telegram", "channel", _telegram("channel"), False),
    ("discord", "dm", _discord(guild=False), True),  # an interaction is always addressed
    ("discord", "guild", _discord(guild=True), True),
    ("line", "user", _line("user"), True),
    ("line", "group", _line("group"), False),
    ("line", "room", _line("room"), False),
    ("whatsapp", "one-to-one", _whatsapp(group=False), True),
    ("whatsapp", "group", _whatsapp(group=True), False),
    ("messenger", "page", _messenger, True),  # a Page and one person: no groups
]


@pytest.mark.parametrize(
    ("platform", "build", "recorded"),
    [(platform, build, recorded) for platform, _, build, recorded in CHAT_KINDS],
    ids=[f"{platform}-{kind}" for platform, kind, _, _ in CHAT_KINDS],
)
def test_one_to_one_chats_record_and_groups_only_when_addressed(
    database,
    platform,
    build,
    recorded,
):
    with service(database) as client:
        r = post(client, platform, build("lunch 120"))
    assert r.status_code == 200, r.text
    assert [x[3] for x in rows(database.url)] == (["lunch"] if recorded else [])


def test_direct_messages_still_record_everything(database):
    with service(database) as client:
        payload, _, _ = sample("telegram", "taxi 250")  # a DM: no mention or command needed
        assert post(client, "telegram", payload).json()["text"].startswith("Recorded: taxi")
        payload, _, _ = sample("telegram", "/expense 120 lunch")
        assert post(client, "telegram", payload).json()["text"] == "Recorded: lunch 120 TWD (food)"
    assert [x[3] for x in rows(database.url)] == ["taxi", "lunch"]


# -- captions ------------------------------------------------------------------------------


def test_captions_and_file_shares_are_read_like_text(database, receiver):  # noqa: F811
    tg, _, _ = sample("telegram", "")
    del tg["message"]["text"]
    tg["message"].update(
        {"photo": [{"file_id": "AgAD", "width": 90, "height": 90}], "caption": "lunch 120"}
    )
    wa = whatsapp_message("", wamid="wamid.P1")
    wa["entry"][0]["changes"][0]["value"]["messages"][0].update(
        {"type": "image", "image": {"id": "1", "mime_type": "image/jpeg", "caption": "taxi 250"}}
    )
    del wa["entry"][0]["changes"][0]["value"]["messages"][0]["text"]
    sl = slack_message(
        "receipt: dinner 300",
        ts=f"{int(time.time())}.000777",
        subtype="file_share",
        files=[{"id": "F1", "name": "r.jpg"}],
    )
    with service(database, receiver[1]) as client:
        assert post(client, "telegram", tg).json()["text"] == "Recorded: lunch 120 TWD (food)"
        assert post(client, "whatsapp", wa).status_code == 200
        assert post(client, "slack", sl).status_code == 200
    assert [x[3] for x in rows(database.url)] == ["lunch", "taxi", "receipt: dinner"]


# -- edits and unsends ---------------------------------------------------------------------


def test_a_telegram_edit_updates_the_expense_and_says_so(database):
    payload, _, _ = sample("telegram", "lunch 120")
    edit = {
        "update_id": payload["update_id"] + 1,
        "edited_message": {
            **payload["message"],
            "text": "lunch 150",
            "edit_date": int(time.time()),
        },
    }
    with service(database) as client:
        post(client, "telegram", payload)
        first = post(client, "telegram", edit)
        again = post(client, "telegram", edit)  # redelivered: nothing changes, no answer
        fewer = copy.deepcopy(edit)
        fewer["edited_message"]["text"] = "hello"
        gone = post(client, "telegram", fewer)
    assert first.json()["text"] == "Updated: lunch 150 TWD (food)"
    assert first.json()["reply_parameters"]["message_id"] == payload["message"]["message_id"]
    assert again.json() == {"ok": True}
    assert gone.json()["text"] == "Deleted: lunch 150 TWD (food)"
    assert rows(database.url) == []


def test_an_edit_keeps_a_corrected_category_and_reshapes_items(database, receiver):  # noqa: F811
    rec, base = receiver
    ts = f"{int(time.time())}.000888"
    original = slack_message("zorblax 50, bus 30", ts=ts)
    with service(database, base) as client:
        post(client, "slack", original)
        first_id = _ids(database.url)[0][0]
        with psycopg.connect(database.url) as conn:
            (uid,) = conn.execute(
                "SELECT user_id FROM expenses WHERE id = %s", (first_id,)
            ).fetchone()
        token = client.post(f"/api/users/{uid}/tokens", headers=ADMIN).json()["token"]
        change = {"category": "shopping"}
        r = client.patch(f"/api/expenses/{first_id}", json=change, headers=bearer(token))
        assert r.is_success, r.text
        changed = slack_message("", ts=f"{int(time.time())}.000999", subtype="message_changed")
        changed["event"].pop("user"), changed["event"].pop("text")
        changed["event"]["message"] = {
            "type": "message",
            "user": "U2147483697",
            "text": "zorblax 70",
            "ts": ts,
        }
        changed["event"]["previous_message"] = {"user": "U2147483697", "text": "x", "ts": ts}
        post(client, "slack", changed)
        wait_until(lambda: len(rec.to("/slack/")) == 2)
        deleted = slack_message(
            "",
            ts=f"{int(time.time())}.001000",
            subtype="message_deleted",
            deleted_ts=ts,
            previous_message={"user": "U2147483697", "text": "zorblax 70", "ts": ts},
        )
        post(client, "slack", deleted)
        wait_until(lambda: len(rec.to("/slack/")) == 3)
    assert (
        rec.to("/slack/")[1].json["text"]
        == "Updated: zorblax 70 TWD (shopping)\nDeleted: bus 30 TWD (transport)"
    )
    assert rec.to("/slack/")[2].json["text"] == "Deleted: zorblax 70 TWD (shopping)"
    assert rows(database.url) == []


def _ids(url: str) -> list[tuple[int]]:
    return select(url, "SELECT id FROM expenses ORDER BY id")


def test_messenger_edit_and_line_unsend(database, receiver):  # noqa: F811
    rec, base = receiver
    messenger, mid, psid = sample("messenger", "coffee 55")
    edit = copy.deepcopy(messenger)
    event = edit["entry"][0]["messaging"][0]
    event["message_edit"] = {"mid": mid, "text": "coffee 65", "num_edit": 1}
    del event["message"]
    line, line_id, user = sample("line", "taxi 250")
    unsend = {
        "destination": "U0",
        "events": [
            {
                "type": "unsend",
                "mode": "active",
                "timestamp": int(time.time() * 1000),
                "source": {"type": "user", "userId": user},
                "webhookEventId": "01H",
                "unsend": {"messageId": line_id},
            }
        ],
    }
    with service(database, base) as client:
        post(client, "messenger", messenger)
        post(client, "messenger", edit)
        post(client, "line", line)
        post(client, "line", unsend)
        post(client, "line", unsend)  # redelivered: already gone, no second answer
        wait_until(lambda: len(rec.to("/line/")) == 2 and len(rec.to("/messenger/")) == 2)
        time.sleep(0.2)
    assert rec.to("/messenger/")[1].json["message"]["text"] == "Updated: coffee 65 TWD (food)"
    push = rec.to("/line/v2/bot/message/push")
    assert len(push) == 1
    assert push[0].json == {
        "to": user,
        "messages": [{"type": "text", "text": "Deleted: taxi 250 TWD (transport)"}],
    }
    assert [(x[0], x[1], x[2]) for x in rows(database.url)] == [(psid, mid, "65.00")]


def test_the_bot_username_comes_from_the_environment():
    from aiexpense.config import WebhookSettings

    env = {"TELEGRAM_BOT_USERNAME": "ExpenseBot"}
    assert WebhookSettings.from_env(env).telegram_bot_username == "ExpenseBot"
    assert WebhookSettings.from_env({"TELEGRAM_BOT_USERNAME": "  "}).telegram_bot_username is None


def test_typos_japanese_and_chinese_numerals_reach_the_right_category(database):
    texts = ["coffe 45", "電車 230円", "計程車 兩百五", "taxi250"]
    with service(database) as client:
        answers = [post(client, "telegram", sample("telegram", t)[0]).json()["text"] for t in texts]
    assert answers == [
        "Recorded: coffe 45 TWD (food)",
        "Recorded: 電車 230 JPY (transport)",
        "Recorded: 計程車 250 TWD (transport)",
        "Recorded: taxi 250 TWD (transport)",
    ]
