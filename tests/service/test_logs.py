"""The service's logs: one JSON object per line, each naming the request it belongs to
(``X-Request-ID``, taken from the request when it is safe, else made), the header echoed."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiexpense import logs
from aiexpense.http.request_id import RequestIdMiddleware, incoming_id
from exporter import JSON_ERRORS
from tests.service.webhook_samples import MESSENGER_SECRET, post
from tests.support import free_port, running, wait_until

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (b"abc-123", True),
        (b"4bf92f3577b34da6a3ce929d0e0e4736", True),
        (b"Root=1-67891233-abcdef012345678912345678", True),
        (b"x" * 128, True),
        (b"x" * 129, False),
        (b"", False),
        (b"has space", False),
        (b'quote"s', False),
        (b"new\nline", False),
        ("caf\u00e9".encode(), False),
    ],
)
def test_an_incoming_id_is_kept_only_when_bounded_and_safe(value: bytes, kept: bool) -> None:
    got = incoming_id([(b"accept", b"*/*"), (b"x-request-id", value)])
    assert got == (value.decode() if kept else None)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger configured by ``logs.configure`` into a buffer, then put back."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    with contextlib.redirect_stderr(io.StringIO()) as stream:  # the handler writes here
        logs.configure("info", "json")
    try:
        yield stream
    finally:
        root.handlers, root.level = saved[0], saved[1]


def test_a_record_is_one_json_line_even_with_a_traceback(captured: io.StringIO) -> None:
    token = logs.request_id.set("req-7")
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        logging.getLogger("aiexpense.test").exception("it broke: %s", "badly")
    finally:
        logs.request_id.reset(token)
    logging.getLogger("aiexpense.test").warning("outside any request")
    first, second = captured.getvalue().splitlines()
    entry = json.loads(first)
    assert entry["message"] == "it broke: badly" and entry["level"] == "error"
    assert entry["request_id"] == "req-7" and entry["logger"] == "aiexpense.test"
    assert "ValueError: first\nsecond" in entry["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    assert "request_id" not in json.loads(second)


def test_auto_is_json_unless_a_terminal() -> None:
    assert logs.resolve_format("auto", io.StringIO()) == "json"
    assert logs.resolve_format("text", io.StringIO()) == "text"
    main, secondary = os.openpty()  # a real terminal, as a person running `make run` has
    with open(secondary, "w") as terminal:
        assert logs.resolve_format("auto", terminal) == "text"
        assert logs.resolve_format("json", terminal) == "json"
    os.close(main)


async def _boom(request) -> JSONResponse:
    raise RuntimeError("the disk is on fire")


async def _fine(request) -> JSONResponse:
    return JSONResponse({"id": logs.request_id.get()})


def test_a_server_error_line_carries_the_request_id(captured: io.StringIO) -> None:
    app = Starlette(
        routes=[Route("/boom", _boom), Route("/fine", _fine)],
        exception_handlers=JSON_ERRORS,
        middleware=[Middleware(RequestIdMiddleware)],
    )
    with running(app) as url, httpx.Client(base_url=url) as client:
        r = client.get("/fine", headers={"X-Request-ID": "client-id-1"})
        assert r.headers["x-request-id"] == "client-id-1" == r.json()["id"]
        r = client.get("/fine")
        assert GENERATED.fullmatch(r.headers["x-request-id"])
        assert r.json()["id"] == r.headers["x-request-id"]
        r = client.get("/boom", headers={"X-Request-ID": "client-id-2"})
        assert r.status_code == 500 and r.json() == {"error": "internal server error"}
    errors = [json.loads(line) for line in captured.getvalue().splitlines()]
    (error,) = [e for e in errors if e["level"] == "error" and e["logger"] == "exporter.errors"]
    assert error["request_id"] == "client-id-2"
    assert "RuntimeError: the disk is on fire" in error["exception"]


@pytest.mark.slow
def test_the_served_service_logs_json_lines_with_the_request_id(database, tmp_path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")},
        "DATABASE_URL": database.url,
        "EXPORTER_PORT": str(port),
        "MESSENGER_APP_SECRET": MESSENGER_SECRET,
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:  # not a terminal: JSON by default
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiexpense", "serve", "--access-log"],
            env=env,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            wait_until(lambda: _ready(client), timeout=60)
            r = client.get("/api/categories", headers={"X-Request-ID": "walk-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "walk-1"
            r = client.get("/api/categories", headers={"X-Request-ID": "bad id!"})
            made = r.headers["x-request-id"]
            assert GENERATED.fullmatch(made)
            # A signed but malformed Messenger payload: answered 200-ignored and logged.
            r = post(client, "messenger", {"object": "page", "entry": 7}, {"X-Request-ID": "m-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "m-1"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    entries = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    access = {e.get("request_id"): e for e in entries if e["logger"] == "uvicorn.access"}
    assert access["walk-1"]["path"] == "/api/categories" and access["walk-1"]["status"] == 200
    assert access["walk-1"]["method"] == "GET"
    assert made in access
    (warning,) = [e for e in entries if e["level"] == "warning" and "messenger" in e["message"]]
    assert warning["request_id"] == "m-1"
    assert any(e["message"].startswith("Uvicorn running on") for e in entries)


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/monitoring/ready").status_code == 200
    except httpx.HTTPError:
        return False
