"""Serving: the platform contract (:class:`Webhook`) and the endpoint that answers it.

:func:`serve` wraps a platform's handler: times the request as ``webhook_<platform>_message``,
answers 503 when the platform is not configured, reads at most
:data:`~.payloads.MAX_BODY` bytes, verifies the signature on those raw bytes (401), parses
JSON, and turns every refusal into a JSON answer. Nothing but these answers leaves: never
a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from aiexpense.domain.operations import webhook_operation

from ..store.db import DATABASE_FAULTS
from .payloads import parse_json, read_body
from .refusals import Malformed, Refusal
from .signatures import BadSignature

if TYPE_CHECKING:
    from starlette.datastructures import Headers

    from .pipeline import Pipeline
    from .replies import Replies

log = logging.getLogger("aiexpense.webhooks")


class Webhook:
    """One platform. Subclasses set the class attributes and implement ``verify`` and
    ``receive``; a platform with a ``GET`` handshake (Meta) also implements ``challenge``."""

    platform: ClassVar[str]
    secret_variable: ClassVar[str]  # named in the 503 answer when the secret is unset
    # Answer a malformed signed body 200-and-ignored instead of 400: for platforms that
    # retry non-2xx answers and disable webhooks that keep failing (see docs/webhooks.md).
    lenient: ClassVar[bool] = False
    handshake: ClassVar[bool] = False  # answers a GET verification request (Meta)

    def __init__(self, pipeline: Pipeline, replies: Replies) -> None:
        self.pipeline = pipeline
        self.replies = replies
        self.collector = pipeline.collector

    @property
    def secret(self) -> str | None:
        raise NotImplementedError

    def verify(self, headers: Headers, body: bytes) -> None:
        raise NotImplementedError

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        raise NotImplementedError

    async def challenge(self, request: Request) -> Response:
        """The ``GET`` subscription handshake, on platforms with ``handshake`` True."""
        raise NotImplementedError

    def not_configured(self, variable: str | None = None) -> Refusal:
        variable = variable or self.secret_variable
        message = f"the {self.platform} webhook is not configured: set {variable}"
        return Refusal(503, variable, message)


async def _post(hook: Webhook, request: Request) -> Response:
    if not hook.secret:
        raise hook.not_configured()
    body = await read_body(request)
    try:
        hook.verify(request.headers, body)
    except BadSignature as exc:
        raise Refusal(401, exc.header, exc.message) from None
    try:
        return await hook.receive(parse_json(body), request.headers)
    except Malformed as exc:
        if hook.lenient:
            log.warning("%s webhook: ignored a malformed payload: %s", hook.platform, exc.message)
            raise Refusal(200, exc.field, exc.message) from None
        raise Refusal(400, exc.field, exc.message) from None


async def serve(hook: Webhook, request: Request) -> Response:
    """Answer one webhook request, timed as ``webhook_<platform>_message``."""
    timer = hook.collector.timer(webhook_operation(hook.platform))
    try:
        if request.method in ("GET", "HEAD") and hook.handshake:
            response = await hook.challenge(request)
        else:
            response = await _post(hook, request)
    except Refusal as exc:
        timer.end(exc if exc.error else None)
        return exc.response()
    except ClientDisconnect:  # the client left mid-body: nobody to answer, not our failure
        timer.end(None)
        raise
    except Exception as exc:  # the service failed (database down...): let the platform retry
        if isinstance(exc, DATABASE_FAULTS):  # an outage: one line, no traceback
            log.warning("%s webhook: database unavailable: %s", hook.platform, exc)
        else:
            log.exception("%s webhook failed", hook.platform)
        timer.end(exc)
        return Refusal(503, "service", "the service could not record this now; retry").response()
    except BaseException as exc:  # cancelled (client gone, shutdown)
        timer.end(exc)
        raise
    timer.end(None)
    return response
