"""Bad input at the HTTP level, against the real app under uvicorn with the limits `exporter
serve` uses: oversized and too many headers, slow headers and bodies, a 50 MB upload, a
client leaving mid-body, a trailing slash with a forged Host."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.http.limits import MAX_HEADER_BYTES, MAX_HEADERS, uvicorn_options
from tests.service import webhook_samples as ws
from tests.service.helpers import ADMIN, ADMIN_TOKEN
from tests.support import running, wait_until

TIMEOUT = 1.0  # header and body timeouts of the server under test


@pytest.fixture(scope="module")
def server(pg_server) -> Iterator[tuple[str, int]]:
    """(base URL, port) of the app on the session's database, with 1 s read timeouts."""
    settings = Settings(
        database_url=pg_server,
        body_timeout_seconds=TIMEOUT,
        admin_token=ADMIN_TOKEN,  # sign-up reads its body only for the admin
        webhooks=ws.webhook_settings(),
    )
    app = create_app(settings)
    with running(app, **uvicorn_options(header_timeout=TIMEOUT)) as base:
        yield base, int(base.rsplit(":", 1)[1])


def exchange(port: int, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send ``data`` on a new connection; everything the server sends before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        # Refused while we were still sending: read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_json(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_1_mb_header_is_refused_with_431(server):
    _, port = server
    raw = exchange(port, b"GET /api/categories HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20)
    status, body = status_and_json(raw)
    assert status == 431
    assert str(MAX_HEADER_BYTES) in body["error"]


def test_10000_headers_are_refused_with_431(server):
    _, port = server
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
    raw = exchange(port, b"GET /api/categories HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_and_json(raw)[0] == 431


def test_headers_within_the_limits_are_served_on_one_keep_alive_connection(server):
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {f"X-Fine-{i}": "v" * 100 for i in range(MAX_HEADERS - 10)}
    for _ in range(3):  # the header clock restarts for each request
        conn.request("GET", "/api/categories", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        response.read()
        time.sleep(TIMEOUT * 0.6)  # idle between requests, within keep-alive
    conn.close()


@pytest.mark.slow
def test_slow_headers_are_cut_off_with_408(server):
    _, port = server
    started = time.monotonic()
    raw = exchange(port, b"GET /api/categories HTTP/1.1\r\nHost: x\r\n")  # and no blank line
    took = time.monotonic() - started
    status, body = status_and_json(raw)
    assert status == 408 and "headers" in body["error"]
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 2


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed(server):
    _, port = server
    started = time.monotonic()
    assert exchange(port, b"") == b""
    assert time.monotonic() - started < TIMEOUT + 2


@pytest.mark.slow
def test_a_slow_body_is_cut_off_with_408(server):
    _, port = server
    head = (
        b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {ADMIN['Authorization']}\r\n".encode()
        + b"Content-Length: 100\r\n\r\n{"
    )
    started = time.monotonic()
    raw = exchange(port, head)
    took = time.monotonic() - started
    status, body = status_and_json(raw)
    assert status == 408 and "body" in body["error"]
    assert b"connection: close" in raw.lower()
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 2


@pytest.mark.slow
@pytest.mark.parametrize("client", ["http.client", "http.client, Connection: close", "httpx"])
def test_a_client_still_uploading_50_mb_gets_the_413(server, client):
    """http.client sends the whole body before it reads; httpx reads once refused. With
    ``Connection: close`` stock uvicorn closes at once and the client gets a reset (20 of
    20 runs here): the server must read the body to its end first."""
    base, port = server
    body = b'{"external_id": "' + b"x" * (50 * 2**20) + b'"}'
    headers = {"content-type": "application/json", **ADMIN}
    if client.endswith("close"):
        headers["connection"] = "close"
    for _ in range(3):
        if client == "httpx":
            r = httpx.post(f"{base}/api/users", content=body, headers=headers, timeout=30)
            status, data = r.status_code, r.json()
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/api/users", body=body, headers=headers)
            response = conn.getresponse()
            status, data = response.status, json.loads(response.read())
            conn.close()
        assert status == 413 and data["field"] == "body"


@pytest.mark.parametrize("path", ["/api/users", "/webhook/telegram"])
def test_a_client_leaving_mid_body_is_not_a_server_error(server, caplog, path):
    base, port = server
    caplog.set_level(logging.DEBUG)
    # the webhook's secret token and the admin token: both routes then read the body
    secret = {**ws.telegram_headers(b""), **ADMIN}
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in secret.items())
        + "Content-Length: 1000\r\n\r\n{"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        time.sleep(0.2)  # the app is reading the body now
    wait_until(lambda: any("client disconnected" in r.getMessage() for r in caplog.records))
    assert httpx.get(f"{base}/api/categories").status_code == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_a_trailing_slash_is_a_json_404_never_a_redirect_to_the_host_header(server):
    base, _ = server
    r = httpx.get(f"{base}/api/categories/", headers={"Host": "evil.example"})
    assert r.status_code == 404
    assert "location" not in r.headers
    assert r.json() == {"error": "no such path: /api/categories/"}
