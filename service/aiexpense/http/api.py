"""The JSON API: thin Starlette endpoints over :class:`ExpenseService`.

Each endpoint reads its input through a schema from :mod:`.validation`, calls one service
operation and writes the result. Amounts are exact end to end: JSON numbers are parsed as
``Decimal`` (never float) and amounts are written as strings (``"12.50"``). Every refusal
is a JSON ``{"error": ..., "field": ...}`` with a 4xx status:

    400 malformed JSON          401 no valid credential        403 credential not allowed
    404 unknown user, expense or category (also: someone else's)
    413 body over 64 KiB        415 not application/json       422 invalid field

Every route but the categories (the same for everyone) needs a bearer credential: see
:mod:`.auth`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _string  # JSONResponse's (ensure_ascii=False)
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..domain import validation as v
from ..domain.errors import InvalidField, NotFound, ServiceError
from ..domain.models import Expense, Summary, User
from ..text.lexicon import Category
from .auth import Guard
from .pages import ExpensePages

if TYPE_CHECKING:
    from ..service import ExpenseService

MAX_BODY = 64 * 1024
STATUS = {InvalidField: 422, NotFound: 404}
NO_STORE = {"Cache-Control": "no-store"}  # an answer carrying a token (as RFC 6749 5.1 asks)


class BadRequest(ServiceError):
    """A request the API cannot read at all (as opposed to one with a bad field)."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(field, message)
        self.status = status


def refusal(exc: ServiceError) -> JSONResponse:
    status = getattr(exc, "status", None) or STATUS.get(type(exc), 422)
    headers = getattr(exc, "headers", None)  # auth: WWW-Authenticate on a 401
    return JSONResponse({"error": exc.message, "field": exc.field}, status, headers)


Endpoint = Callable[[Any, Request], Awaitable[Response]]


def endpoint(handler: Endpoint) -> Endpoint:
    """Turn a :class:`ServiceError` from ``handler`` into its 4xx JSON answer."""

    @functools.wraps(handler)
    async def handle(self: Any, request: Request) -> Response:
        try:
            return await handler(self, request)
        except ServiceError as exc:
            return refusal(exc)

    return handle


# -- reading requests ---------------------------------------------------------------------


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, numbers as Decimal, at most MAX_BODY bytes."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        raise BadRequest(415, "Content-Type", f"expected application/json, got {shown}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(413, "body", f"body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():  # count as we read: Content-Length may be absent
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(413, "body", f"body is larger than {MAX_BODY} bytes")
    try:
        # parse_constant: NaN and Infinity become Decimals the amount rule refuses by name.
        data = json.loads(bytes(body), parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(400, "body", f"malformed JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise InvalidField("body", "expected a JSON object")
    return data


def query(request: Request) -> dict[str, str]:
    """Query parameters; a parameter given twice is refused rather than guessed at."""
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in out:
            raise InvalidField(key[:64], "given more than once")
        out[key] = value
    return out


def path_id(request: Request, name: str) -> int:
    return v.check(name, v.positive_id, request.path_params[name])


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, if sent (once: two would be ambiguous)."""
    keys = request.headers.getlist("idempotency-key")
    if len(keys) > 1:
        raise InvalidField("Idempotency-Key", "given more than once")
    return keys[0] if keys else None


# -- writing responses --------------------------------------------------------------------


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "platform": user.platform,
        "external_id": user.external_id,
        "display_name": user.display_name,
        "currency": user.currency,
        "created_at": _timestamp(user.created_at),
    }


def expense_json(e: Expense) -> dict[str, Any]:
    return {
        "id": e.id,
        "user_id": e.user_id,
        "amount": str(e.amount),
        "currency": e.currency,
        "category": e.category,
        "description": e.description,
        "spent_on": e.spent_on.isoformat(),
        "platform": e.platform,
        "message_id": e.message_id,
        "created_at": _timestamp(e.created_at),
    }


def expense_text(e: Expense) -> str:
    """``expense_json(e)`` as JSON text, byte for byte what ``JSONResponse`` renders of
    it (its keys in order, ``ensure_ascii=False``, no spaces), built without the dict:
    a third of the time (tests/service/test_pages.py compares them). Text fields go
    through the encoder's own string escaper; the rest cannot need escaping (numbers,
    ISO dates, a Decimal's digits)."""
    message_id = "null" if e.message_id is None else _string(e.message_id)
    return (
        f'{{"id":{e.id:d},"user_id":{e.user_id:d},"amount":"{e.amount}",'
        f'"currency":{_string(e.currency)},"category":{_string(e.category)},'
        f'"description":{_string(e.description)},"spent_on":"{e.spent_on.isoformat()}",'
        f'"platform":{_string(e.platform)},"message_id":{message_id},'
        f'"created_at":"{_timestamp(e.created_at)}"}}'
    )


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "user_id": s.user_id,
        "from": s.start.isoformat(),
        "to": s.end.isoformat(),
        "currencies": {
            code: {
                "total": str(t.total),
                "count": t.count,
                "by_category": {slug: str(a) for slug, a in t.by_category.items()},
                "by_day": {d.isoformat(): str(a) for d, a in t.by_day.items()},
            }
            for code, t in s.currencies.items()
        },
    }


def category_json(c: Category) -> dict[str, Any]:
    return {"slug": c.slug, "name": c.name, "keywords": list(c.keywords)}


def _timestamp(moment: datetime) -> str:
    return str(moment.astimezone(UTC).isoformat().replace("+00:00", "Z"))


# -- endpoints ----------------------------------------------------------------------------


class ExpenseApi:
    def __init__(self, service: ExpenseService) -> None:
        self.service = service
        self.auth = Guard(
            service.credentials.check, service.settings.admin_token, service.collector
        )
        # The latest expenses are answered from the same records again and again: their
        # page is rendered once (see .pages).
        self.pages = ExpensePages(expense_text)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/users", self.create_user, methods=["POST"]),
            Route("/api/users/{user_id}", self.get_user, methods=["GET"]),
            Route("/api/users/{user_id}/summary", self.summary, methods=["GET"]),
            Route("/api/users/{user_id}/tokens", self.issue_token, methods=["POST"]),
            Route("/api/expenses", self.create_expense, methods=["POST"]),
            Route("/api/expenses", self.list_expenses, methods=["GET"]),
            Route("/api/expenses/{expense_id}", self.update_expense, methods=["PATCH"]),
            Route("/api/expenses/{expense_id}", self.delete_expense, methods=["DELETE"]),
            Route("/api/categories", self.list_categories, methods=["GET"]),
            Route("/api/categories/{slug}", self.get_category, methods=["GET"]),
        ]

    @endpoint
    async def create_user(self, request: Request) -> Response:
        """Sign up a person on the "api" platform (admin token); 201 when new, 200 when
        they existed. The answer carries the person's API token (``token``) when they had
        none yet: once, on the first sign-up."""
        await self.auth.admin(request, "sign-up")
        data = v.NEW_USER.parse(await read_json(request))
        user = await self.service.auto_signup(
            "api",
            data["external_id"],
            display_name=data.get("display_name"),
            currency=data.get("currency"),
        )
        body, headers = user_json(user), None
        token = await self.service.issue_token(user.id, replace=False)
        if token is not None:
            body["token"], headers = token, NO_STORE
        return JSONResponse(body, status_code=201 if user.created else 200, headers=headers)

    @endpoint
    async def issue_token(self, request: Request) -> Response:
        """A new API token for the person (their current token or the admin's); the old
        one stops working."""
        who = await self.auth.principal(request)
        user_id = who.allowed(path_id(request, "user_id"))
        token = await self.service.issue_token(user_id)
        return JSONResponse({"user_id": user_id, "token": token}, 201, NO_STORE)

    @endpoint
    async def get_user(self, request: Request) -> Response:
        who = await self.auth.principal(request)
        user_id = who.allowed(path_id(request, "user_id"))
        user = await self.service.get_user(user_id)
        if user is None:
            raise NotFound("user_id", f"no user with id {user_id}")
        return JSONResponse(user_json(user))

    @endpoint
    async def create_expense(self, request: Request) -> Response:
        """201 with the expense; with an ``Idempotency-Key``, a retry gets the first 201
        again (marked ``Idempotent-Replayed: true``) and records nothing."""
        who = await self.auth.principal(request)
        key = idempotency_key(request)
        data = v.NEW_EXPENSE.parse(await read_json(request))
        expense = await self.service.create_expense(
            who.allowed(data["user_id"]),
            data["amount"],
            currency=data.get("currency"),
            category=data.get("category"),
            description=data.get("description", ""),
            spent_on=data.get("spent_on"),
            idempotency_key=key,
        )
        headers = {"Location": f"/api/expenses/{expense.id}"}
        if key is not None and not expense.created:
            headers["Idempotent-Replayed"] = "true"
        return Response(expense_text(expense), 201, headers, JSONResponse.media_type)

    @endpoint
    async def list_expenses(self, request: Request) -> Response:
        """``?user_id=&limit=`` the latest; ``?user_id=&from=&to=`` a date range."""
        who = await self.auth.principal(request)
        q = v.EXPENSE_LIST_QUERY.parse(query(request))
        who.allowed(q["user_id"])
        body: dict[str, Any] = {"user_id": q["user_id"]}
        if "from" in q:
            limit = q.get("limit", v.MAX_LIMIT)
            expenses = await self.service.get_expenses_by_date_range(
                q["user_id"], q["from"], q["to"], limit
            )
            body.update({"from": q["from"].isoformat(), "to": q["to"].isoformat()})
            key: tuple[Any, ...] = (q["user_id"], q["from"], q["to"], limit)
        else:
            limit = q.get("limit", v.DEFAULT_LIMIT)
            expenses = await self.service.get_expenses(q["user_id"], limit)
            key = (q["user_id"], limit)
        body.update({"limit": limit, "count": len(expenses)})
        page = self.pages.page(key, body, "expenses", expenses)
        return Response(page, media_type=JSONResponse.media_type)

    @endpoint
    async def update_expense(self, request: Request) -> Response:
        who = await self.auth.principal(request)
        expense_id = path_id(request, "expense_id")
        changes = v.EXPENSE_CHANGES.parse(await read_json(request))
        # A person's token reaches only their own expenses: anyone else's is "no expense".
        expense = await self.service.update_expense(expense_id, user_id=who.user_id, **changes)
        return JSONResponse(expense_json(expense))

    @endpoint
    async def delete_expense(self, request: Request) -> Response:
        who = await self.auth.principal(request)
        expense_id = path_id(request, "expense_id")
        expense = await self.service.delete_expense(expense_id, user_id=who.user_id)
        return JSONResponse({"deleted": expense_json(expense)})

    @endpoint
    async def summary(self, request: Request) -> Response:
        who = await self.auth.principal(request)
        user_id = who.allowed(path_id(request, "user_id"))
        q = v.PERIOD_QUERY.parse(query(request))
        summary = await self.service.get_metrics(user_id, q.get("from"), q.get("to"))
        return JSONResponse(summary_json(summary))

    @endpoint
    async def list_categories(self, request: Request) -> Response:
        categories = await self.service.list_categories()
        return JSONResponse({"categories": [category_json(c) for c in categories]})

    @endpoint
    async def get_category(self, request: Request) -> Response:
        slug = v.check("slug", v.slug, request.path_params["slug"])
        category = await self.service.category_lookup(slug)
        if category is None:
            raise NotFound("slug", f"no category {slug[:64]!r}")
        return JSONResponse(category_json(category))
