"""Limits on what a client may make the server hold: header size, header count, and the time
to send headers and body. uvicorn has a keep-alive timeout and nothing else: a client that
sends half a request line and stops, or a 1 MB header, or 10,000 headers, is held for as long
as it likes. nginx's defaults are the model (8 KB x 4 header buffers, 60 s timeouts).

* :class:`LimitedHttpToolsProtocol`: uvicorn's httptools protocol, refusing headers over
  :data:`MAX_HEADER_BYTES` or :data:`MAX_HEADERS` with 431 and a request whose headers are
  not complete within ``header_timeout`` seconds with 408 (an idle new connection is just
  closed); the rest of a body answered early (413) is read and dropped for at most as
  long, also when the answer closes the connection (uvicorn would close at once, and the
  kernel's reset would usually destroy the answer before the client read it). It needs
  nothing but uvicorn's own hooks, and keeps httptools' speed.
* :class:`BodyReadTimeout`: ASGI middleware giving the whole body ``seconds`` to arrive;
  then the client gets 408 (``Connection: close``) and the app sees a disconnect.

    uvicorn.Config(app, **uvicorn_options(header_timeout=10.0))
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 32 * 1024  # request line + headers (nginx: 4 buffers of 8 KB)
MAX_HEADERS = 100  # as Go's and Node's servers allow by default (Node: 2000 bytes each)
KEEP_ALIVE_SECONDS = 5.0  # uvicorn's default, said here so it is one place


def _raw_response(status: str, error: str) -> bytes:
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


TOO_LARGE = _raw_response(
    "431 Request Header Fields Too Large",
    f"request headers are larger than {MAX_HEADER_BYTES} bytes or more than {MAX_HEADERS}",
)
TOO_SLOW = _raw_response("408 Request Timeout", "request headers took too long to arrive")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; httptools re-raises it wrapped."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and a header read timeout."""

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout  # seconds
        self._header_bytes: int | None = 0  # None: not reading headers now
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._refusal: bytes | None = None
        self._close_when_read = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()  # uvicorn arms no timer before the first request

    def data_received(self, data: bytes) -> None:
        if self._header_bytes is not None:  # between messages or inside headers
            self._header_bytes += len(data)
        super().data_received(data)  # a _Refused in a callback comes back as a 400: see below
        if self._header_bytes is not None and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(TOO_LARGE)

    def on_message_begin(self) -> None:
        self._header_count = 0
        if self._header_timer is None:
            self._start_header_timer()
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refusal = TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._header_bytes = None  # the body is not counted: the app limits it
        self._cancel_header_timer()
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = _Lingering(self.transport, self)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._header_bytes = 0  # what comes next is the next request's headers
        self._cancel_header_timer()
        super().on_message_complete()
        if self._close_when_read:  # the answer went out before the body came in: now close
            self.transport.close()

    def reading_body(self) -> bool:
        """Is a request body still coming in?"""
        return self._header_bytes is None and not self.transport.is_closing()

    def close_when_read(self) -> None:
        """Close once the body in progress has been read (and dropped), or at the timeout."""
        self._close_when_read = True
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self.transport.close)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Answered before the body was read (413...): uvicorn reads and drops the rest, so
        # the client sees the answer rather than a reset. Bound that, or a client trickling
        # a body after its answer would hold the connection for ever.
        if self._header_bytes is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error 400; one we raised gets its own answer.
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            self._refuse(refusal)
        else:
            super().send_400_response(msg)

    # -- the header clock ------------------------------------------------------------------

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._header_bytes is None or self.transport.is_closing():
            return
        if self._header_bytes:  # part of a request came: say why it is cut off
            self._refuse(TOO_SLOW)
        else:  # an idle connection: just close it, as after a keep-alive timeout
            self.transport.close()

    def _refuse(self, response: bytes) -> None:
        self._header_bytes = None
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


class _Lingering:
    """The transport uvicorn's request cycle writes its answer to and closes.

    Two things on top of the protocol's transport:

    * One write per answer: uvicorn writes the status line and headers, then the body, as
      two writes, and each is a ``send`` system call and a TCP segment on its own (with
      ``TCP_NODELAY``). The first write of a cycle is held until the next write, a close,
      or the end of this turn of the event loop (whichever comes first), so a whole answer
      leaves in one call. A head whose body takes longer (a streamed answer) still leaves
      within the same turn; nothing waits on a timer.
    * A lingering close: closing while the client is still sending its body makes the
      kernel reset the connection, and the client usually loses the answer (a 413) with
      it; so a close asked for mid-body waits until the body has been read (and dropped)
      or the header timeout.
    """

    __slots__ = ("_held", "_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._protocol.loop.call_soon(self._flush)
            return
        self._held = b""  # written: later writes go straight out (the callback is a no-op)
        self._transport.write(held + data if held else data)

    def _flush(self) -> None:
        held, self._held = self._held, b""
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        if self._protocol.reading_body():
            self._protocol.close_when_read()
        else:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def uvicorn_options(*, header_timeout: float = 10.0) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that apply these limits."""
    # A partial, not a subclass made here: it pickles, so spawned workers get it too.
    protocol = functools.partial(LimitedHttpToolsProtocol, header_timeout=header_timeout)
    return {"http": protocol, "timeout_keep_alive": KEEP_ALIVE_SECONDS}


class BodyReadTimeout:
    """The whole request body must arrive within ``seconds`` of the app's first read."""

    def __init__(self, app: ASGIApp, seconds: float = 30.0) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)  # nothing to wait for: no wrappers to pay
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        body_done = timed_out = started = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done, timed_out
            if body_done or timed_out:
                return await receive() if not timed_out else {"type": "http.disconnect"}
            deadline = deadline or loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    await _send_408(send, self.seconds)
                return {"type": "http.disconnect"}  # the app stops reading, quietly
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # answered already; the app's own answer goes nowhere
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Does the request come with a body? In HTTP/1.1 only one with a ``Content-Length``
    other than 0 or a ``Transfer-Encoding`` does (RFC 9112 6.3): a GET, usually, does not."""
    for name, value in headers:
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _send_408(send: Send, seconds: float) -> None:
    body = json.dumps({"error": f"request body not received within {seconds:g}s"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
