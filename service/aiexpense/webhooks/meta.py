"""What WhatsApp Cloud API and Messenger share: Meta's Webhooks product.

* ``GET`` verification when the callback URL is saved: ``hub.mode=subscribe``,
  ``hub.verify_token`` (the string typed into the App Dashboard) and ``hub.challenge``,
  which is echoed back as plain text. A wrong token or mode is a 403, as in Meta's samples.
* ``POST`` notifications signed with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
  body with the app secret>``.
* Meta retries a notification that is not answered 200 and alerts on (then disables)
  webhooks that keep failing, so every signed body we cannot use is answered 200 and
  ignored (``lenient``), and its kind logged.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .refusals import Refusal
from .serving import Webhook
from .signatures import verify_hub

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

MAX_CHALLENGE = 256


class MetaWebhook(Webhook):
    lenient = True
    handshake = True
    verify_token_variable: str

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        app_secret: str | None,
        verify_token: str | None,
    ) -> None:
        super().__init__(pipeline, replies)
        self._app_secret = app_secret
        self._verify_token = verify_token

    @property
    def secret(self) -> str | None:
        return self._app_secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_hub(headers, body, self._app_secret or "")

    async def challenge(self, request: Request) -> Response:
        if not self._verify_token:
            raise self.not_configured(self.verify_token_variable)
        q = request.query_params
        mode, token = q.get("hub.mode"), q.get("hub.verify_token")
        challenge = q.get("hub.challenge")
        if not challenge or len(challenge) > MAX_CHALLENGE:
            raise Refusal(400, "hub.challenge", "hub.challenge is missing or too long", error=False)
        if mode != "subscribe":
            raise Refusal(403, "hub.mode", "hub.mode must be subscribe")
        if not hmac.compare_digest((token or "").encode(), self._verify_token.encode()):
            raise Refusal(403, "hub.verify_token", "hub.verify_token does not match")
        return PlainTextResponse(challenge)
