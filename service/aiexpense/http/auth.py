"""Who is asking: the bearer credentials of the JSON API.

Two kinds, both sent as ``Authorization: Bearer <token>`` (RFC 6750):

- a person's **API token**, ``aiex_<user id>_<43 characters>`` (32 random bytes,
  base64url). It is handed out once, by sign-up or rotation; PostgreSQL keeps only its
  SHA-256 (the token is high-entropy, so a fast hash is enough: no one can guess their way
  back from the digest). The user id inside names the row to compare with, so checking a
  token is one primary-key read (cached; see ``store.credentials`` for what is refused
  without any read) and one constant-time comparison. The prefix lets secret scanners
  recognise a leaked token.
- the **admin token** (``EXPORTER_ADMIN_TOKEN``): signs people up and may act for anyone.

A token reaches only its own person's data. A request naming someone else's user or
expense is answered 404, word for word as for an id that does not exist, so walking ids
tells nobody who exists. Refusals:

    401 no credential, or one that is not valid   (with WWW-Authenticate: Bearer)
    403 a valid credential that may not do this   (sign-up with a person's token)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, Protocol

from prometheus_client import Counter
from starlette.requests import Request

from exporter import Recorder

from ..domain.errors import NotFound, ServiceError
from ..domain.tokens import digest, token_user

MAX_TOKEN_LENGTH: Final = 256  # ours are ~70 characters; longer is not worth hashing
REALM: Final = 'Bearer realm="api"'
# Why a credential was refused: the label values of <ns>_auth_refusals_total (bounded).
REASONS: Final = (
    "missing",  # no Authorization header (401)
    "malformed",  # not "Bearer <token>", or a token not shaped like ours (401, no lookup)
    "unknown",  # an id that holds no token (401; far above the highest holder: no lookup)
    "wrong_secret",  # an id that holds a token, another secret (401; from the cache)
    "forbidden",  # a valid person's token where only the admin's will do (403)
)


class CredentialCheck(Protocol):
    """Is ``presented`` (a token's SHA-256) the token of ``user_id``? None when it is,
    else the reason (``"unknown"`` or ``"wrong_secret"``)."""

    def __call__(self, user_id: int, presented: bytes) -> Awaitable[str | None]: ...


class Unauthorized(ServiceError):
    """401: no credential, or one that is not valid."""

    status = 401

    def __init__(self, message: str, *, presented: bool) -> None:
        super().__init__("Authorization", message)
        # RFC 6750 section 3: a bare challenge when nothing was sent, invalid_token otherwise.
        challenge = f'{REALM}, error="invalid_token"' if presented else REALM
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(ServiceError):
    """403: a valid credential that does not allow this request."""

    status = 403
    headers: dict[str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__("Authorization", message)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a person (``user_id``) or the admin (``user_id`` None)."""

    user_id: int | None

    @property
    def is_admin(self) -> bool:
        return self.user_id is None

    def allowed(self, user_id: int) -> int:
        """``user_id`` if this principal may act for that person; else the 404 an unknown
        id gets (the same words, so the answer tells nothing about who exists)."""
        if self.user_id is not None and self.user_id != user_id:
            raise NotFound("user_id", f"no user with id {user_id}")
        return user_id


class Guard:
    """Authenticates requests against the admin token and the stored token digests;
    counts every refusal in ``<ns>_auth_refusals_total{reason}`` (see :data:`REASONS`)."""

    def __init__(self, check: CredentialCheck, admin_token: str | None, recorder: Recorder) -> None:
        self._check = check
        self._admin = digest(admin_token) if admin_token else None
        refusals = Counter(
            "auth_refusals",
            "Requests refused for their credential, by reason: missing, malformed, unknown"
            " (an id holding no token), wrong_secret, forbidden (a person's token where the"
            " admin's is needed).",
            ("reason",),
            namespace=recorder.namespace,
            registry=recorder.registry,
        )
        # Children bound once (every reason shows from the start, at 0, for alerts).
        self._refused = {reason: refusals.labels(reason) for reason in REASONS}

    async def principal(self, request: Request) -> Principal:
        """Who ``request`` acts as; :class:`Unauthorized` when it has no valid credential.
        A token refused for its shape or for an id above every token holder costs no
        database statement; a cached person's check costs none either (store.credentials).
        """
        header = request.headers.get("authorization")
        if header is None:
            self._refused["missing"].inc()
            raise Unauthorized(
                "missing credentials: send Authorization: Bearer <token>", presented=False
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            self._refused["malformed"].inc()
            raise Unauthorized(
                "expected Authorization: Bearer <token>", presented=scheme.lower() == "bearer"
            )
        reason = "malformed"
        if len(token) <= MAX_TOKEN_LENGTH:
            presented = digest(token)
            if self._admin is not None and hmac.compare_digest(presented, self._admin):
                return Principal(None)
            user_id = token_user(token)
            if user_id is not None:
                refused = await self._check(user_id, presented)
                if refused is None:
                    return Principal(user_id)
                reason = refused
        self._refused[reason].inc()
        raise Unauthorized("invalid token (unknown, or replaced by a newer one)", presented=True)

    async def admin(self, request: Request, action: str) -> Principal:
        """The admin, or :class:`Forbidden` (403) for anyone else. With no admin token
        configured, ``action`` is disabled: 403 before any credential is looked at."""
        if self._admin is None:
            raise Forbidden(f"{action} is disabled: no admin token is configured")
        who = await self.principal(request)
        if not who.is_admin:
            self._refused["forbidden"].inc()
            raise Forbidden(f"{action} needs the admin token; a person's token cannot do it")
        return who
