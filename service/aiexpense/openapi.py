"""The OpenAPI 3.1 document of ``/api`` and ``/webhook/*``, served at ``/openapi.json``.

Request bodies and query parameters are generated from the schemas that validate them
(:mod:`.validation`): each field's JSON Schema comes from its parser (:data:`PARSERS`), so a
new field shows up here by itself and a new parser fails loudly until it is described.
Responses are written next to the serializers they describe (``api.py``'s ``*_json``); the
schemathesis run in the tests checks the live answers against them. The monitoring
endpoints belong to the kit and are not in this document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import __version__
from .domain import validation as v
from .domain.currencies import MINOR_UNITS
from .http.faults import RETRY_AFTER_SECONDS
from .webhooks import MAX_BODY as WEBHOOK_MAX_BODY

JSONSchema = dict[str, Any]

# Each parser of validation.py, as the JSON Schema of what it accepts (its canonical form:
# where a parser also takes a string of digits, the document shows the number).
PARSERS: dict[Any, JSONSchema] = {
    v.positive_id: {"type": "integer", "minimum": 1, "maximum": v.MAX_ID},
    v.limit: {"type": "integer", "minimum": 1, "maximum": v.MAX_LIMIT},
    v.amount: {
        "description": "exact: a decimal string (preferred) or a JSON number, > 0, < 10^12,"
        " with no more decimal places than the currency has",
        "oneOf": [
            {"type": "string", "pattern": "^" + v._DECIMAL.pattern + "$"},
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": int(v.MAX_AMOUNT)},
        ],
    },
    v.currency: {"type": "string", "enum": sorted(MINOR_UNITS), "description": "ISO 4217"},
    v.day: {
        "type": "string",
        "format": "date",
        "description": f"YYYY-MM-DD, {v.MIN_DATE} to {v.MAX_DATE}",
    },
    v.slug: {"type": "string", "pattern": "^" + v._SLUG.pattern + "$"},
}


def parser_schema(parse: Any) -> JSONSchema:
    """The JSON Schema of one field parser; KeyError for a parser nobody described."""
    if hasattr(parse, "max_length"):  # validation.text(...)
        return {"type": "string", "minLength": parse.min_length, "maxLength": parse.max_length}
    return dict(PARSERS[parse])


def body_schema(schema: v.Schema) -> JSONSchema:
    """A validation schema as a JSON object schema: unknown fields are refused (422)."""
    out: JSONSchema = {
        "type": "object",
        "properties": {f.name: parser_schema(f.parse) for f in schema.fields},
        "additionalProperties": False,
    }
    required = [f.name for f in schema.fields if f.required]
    if required:
        out["required"] = required
    if v.not_empty in schema.checks:
        out["minProperties"] = 1
    return out


def query_parameters(schema: v.Schema) -> list[JSONSchema]:
    return [
        {"name": f.name, "in": "query", "required": f.required, "schema": parser_schema(f.parse)}
        for f in schema.fields
    ]


def path_parameter(name: str, parse: Any) -> JSONSchema:
    return {"name": name, "in": "path", "required": True, "schema": parser_schema(parse)}


# -- responses (what api.py's serializers write) ------------------------------------------

_TIMESTAMP = {"type": "string", "format": "date-time"}
_DATE = {"type": "string", "format": "date"}
_MONEY = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
_INT = {"type": "integer"}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}


def _object(properties: JSONSchema, *, optional: tuple[str, ...] = ()) -> JSONSchema:
    """An object schema whose properties are all required but ``optional``."""
    required = [name for name in properties if name not in optional]
    return {"type": "object", "required": required, "properties": properties}


def _list_of(component: str) -> JSONSchema:
    return {"type": "array", "items": {"$ref": f"#/components/schemas/{component}"}}


_TOTALS = _object(
    {
        "total": _MONEY,
        "count": _INT,
        "by_category": {"type": "object", "additionalProperties": _MONEY},
        "by_day": {"type": "object", "additionalProperties": _MONEY},
    }
)

_USER: JSONSchema = {
    "id": _INT,
    "platform": _TEXT,
    "external_id": _TEXT,
    "display_name": _NULLABLE_TEXT,
    "currency": _TEXT,
    "created_at": _TIMESTAMP,
}

COMPONENTS: dict[str, JSONSchema] = {
    "Error": _object({"error": _TEXT, "field": _NULLABLE_TEXT}, optional=("field",)),
    "Unavailable": _object(
        {"error": _TEXT, "detail": _TEXT, "field": _TEXT, "retry_after": _INT},
        optional=("detail", "field", "retry_after"),
    ),
    "User": _object(_USER),
    # sign-up's answer: the user, and their API token the first time (only then)
    "SignedUp": _object({**_USER, "token": _TEXT}, optional=("token",)),
    "Expense": _object(
        {
            "id": _INT,
            "user_id": _INT,
            "amount": _MONEY,
            "currency": _TEXT,
            "category": _TEXT,
            "description": _TEXT,
            "spent_on": _DATE,
            "platform": _TEXT,
            "message_id": _NULLABLE_TEXT,
            "created_at": _TIMESTAMP,
        }
    ),
    "ExpenseList": _object(
        {
            "user_id": _INT,
            "from": _DATE,
            "to": _DATE,
            "limit": _INT,
            "count": _INT,
            "expenses": _list_of("Expense"),
        },
        optional=("from", "to"),
    ),
    "Deleted": _object({"deleted": {"$ref": "#/components/schemas/Expense"}}),
    "Summary": _object(
        {
            "user_id": _INT,
            "from": _DATE,
            "to": _DATE,
            "currencies": {"type": "object", "additionalProperties": _TOTALS},
        }
    ),
    "Category": _object(
        {"slug": _TEXT, "name": _TEXT, "keywords": {"type": "array", "items": _TEXT}}
    ),
    "CategoryList": _object({"categories": _list_of("Category")}),
    "Token": _object({"user_id": _INT, "token": _TEXT}),
    "WebhookAnswer": {
        "type": "object",
        "description": "{ok: true}, {ok: true, ignored: reason}, or the platform's own answer"
        " (Discord: an interaction response)",
    },
}

SECURITY_SCHEMES: JSONSchema = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a person's API token (aiex_<user id>_<secret>, from sign-up or"
        " POST /api/users/{user_id}/tokens): that person's data only; or the admin token"
        " (EXPORTER_ADMIN_TOKEN): sign-up, and anyone's data",
    }
}

ERRORS = {
    400: "Malformed JSON (or, on a webhook, a signed body that is not the platform's payload)",
    401: "No valid credential: on /api a bearer token (WWW-Authenticate: Bearer), on a"
    " webhook the platform's signature",
    403: "The credential may not do this (sign-up needs the admin token), or a webhook's"
    " verification token does not match",
    404: "No such user, expense or category (someone else's answers the same)",
    413: "The body is larger than the limit",
    415: "The body is not application/json",
    422: "A field is invalid: `field` names it",
}


def _json(ref: str) -> JSONSchema:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _unavailable(what: str) -> JSONSchema:
    return {
        "description": what,
        "headers": {"Retry-After": {"schema": {"type": "string"}, "required": True}},
        "content": _json("Unavailable"),
    }


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    ok: dict[int, str | JSONSchema]  # status -> a component's name, or a response object
    body: v.Schema | JSONSchema | None = None  # a validation schema, or a request body object
    query: v.Schema | list[JSONSchema] | None = None  # a validation schema, or parameters
    params: tuple[tuple[str, Any], ...] = ()  # path parameters: (name, parser)
    errors: tuple[int, ...] = ()
    secured: bool = True  # needs a bearer token (see auth.py); False: public or signed
    headers: tuple[JSONSchema, ...] = ()  # header parameters

    def document(self) -> JSONSchema:
        op: JSONSchema = {"summary": self.summary, "operationId": _operation_id(self)}
        parameters = [path_parameter(n, p) for n, p in self.params] + list(self.headers)
        if isinstance(self.query, v.Schema):
            parameters += query_parameters(self.query)
        elif self.query:
            parameters += self.query
        if parameters:
            op["parameters"] = parameters
        if isinstance(self.body, v.Schema):
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema(self.body)}},
            }
        elif self.body is not None:
            op["requestBody"] = self.body
        responses: JSONSchema = {
            str(status): {"description": "OK", "content": _json(ok)} if isinstance(ok, str) else ok
            for status, ok in self.ok.items()
        }
        for status in self.errors:
            responses[str(status)] = {"description": ERRORS[status], "content": _json("Error")}
        op["security"] = [{"bearer": []}] if self.secured else []
        if self.secured:
            responses["401"] = {"description": ERRORS[401], "content": _json("Error")}
        responses["503"] = _unavailable("Unavailable (database down, or not configured): retry")
        op["responses"] = responses
        return op


def _operation_id(op: Operation) -> str:
    return op.method.lower() + op.path.replace("/", "_").replace("{", "").replace("}", "")


_BODY_ERRORS = (400, 413, 415, 422)
_IDEMPOTENCY_KEY: JSONSchema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "per person, kept 24 h: the same key and body replay the first answer;"
    " the same key with another body is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 257, "pattern": "^[\\x20-\\x7e]+$"},
}


def _created_expense() -> JSONSchema:
    return {
        "description": "Created (or, for a retry with its Idempotency-Key, created before)",
        "headers": {
            "Location": {"schema": {"type": "string"}, "required": True},
            "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}},
        },
        "content": _json("Expense"),
    }


_USER_ID = (("user_id", v.positive_id),)
_EXPENSE_ID = (("expense_id", v.positive_id),)

API: tuple[Operation, ...] = (
    Operation("POST", "/api/users", "Sign up a person, with the admin token (200 when they"
              " existed); `token`, the person's API token, comes once",
              {201: "SignedUp", 200: "SignedUp"}, body=v.NEW_USER, errors=(*_BODY_ERRORS, 403)),
    Operation("GET", "/api/users/{user_id}", "A person", {200: "User"},
              params=_USER_ID, errors=(404, 422)),
    Operation("POST", "/api/users/{user_id}/tokens", "A new API token for the person (the"
              " previous one stops working)", {201: "Token"}, params=_USER_ID,
              errors=(404, 422)),
    Operation("GET", "/api/users/{user_id}/summary", "Totals by currency, category and day",
              {200: "Summary"}, params=_USER_ID, query=v.PERIOD_QUERY, errors=(404, 422)),
    Operation("POST", "/api/expenses", "Record an expense; with an Idempotency-Key a retry"
              " gets the first answer again", {201: _created_expense()},
              body=v.NEW_EXPENSE, errors=(*_BODY_ERRORS, 404), headers=(_IDEMPOTENCY_KEY,)),
    Operation("GET", "/api/expenses", "A person's latest expenses, or those in a date range",
              {200: "ExpenseList"}, query=v.EXPENSE_LIST_QUERY, errors=(404, 422)),
    Operation("PATCH", "/api/expenses/{expense_id}", "Change an expense", {200: "Expense"},
              body=v.EXPENSE_CHANGES, params=_EXPENSE_ID, errors=(*_BODY_ERRORS, 404)),
    Operation("DELETE", "/api/expenses/{expense_id}", "Delete an expense", {200: "Deleted"},
              params=_EXPENSE_ID, errors=(404, 422)),
    Operation("GET", "/api/categories", "Every category, in display order",
              {200: "CategoryList"}, secured=False),
    Operation("GET", "/api/categories/{slug}", "One category", {200: "Category"},
              params=(("slug", v.slug),), errors=(404, 422), secured=False),
)  # fmt: skip

_HUB_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("hub.mode", "hub.verify_token", "hub.challenge")
]


def webhook_operations(platforms: list[tuple[str, bool]]) -> list[Operation]:
    """``POST /webhook/<platform>`` (and Meta's ``GET`` handshake) for (platform, handshake)."""
    body = {
        "required": True,
        "description": f"the platform's own payload, at most {WEBHOOK_MAX_BODY} bytes",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    challenge = {
        "description": "hub.challenge, echoed",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    ops = []
    for platform, handshake in platforms:
        path = f"/webhook/{platform}"
        ops.append(
            Operation(
                "POST",
                path,
                f"{platform} events, signed as {platform} signs them",
                {200: "WebhookAnswer"},
                body=body,
                errors=(400, 401, 413),
                secured=False,
            )
        )
        if handshake:
            ops.append(
                Operation(
                    "GET",
                    path,
                    "Meta's subscription handshake",
                    {200: challenge},
                    query=_HUB_QUERY,
                    errors=(400, 403),
                    secured=False,
                )
            )
    return ops  # fmt: skip


def build(platforms: list[tuple[str, bool]]) -> JSONSchema:
    """The whole document, for the API and the given webhook platforms."""
    paths: JSONSchema = {}
    for op in (*API, *webhook_operations(platforms)):
        paths.setdefault(op.path, {})[op.method.lower()] = op.document()
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "get_openapi",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aiexpense",
            "version": __version__,
            "description": "The expense service's JSON API and chat webhooks. Amounts are"
            " exact decimal strings. Every refusal is JSON; a database fault is 503 with"
            f" Retry-After ({RETRY_AFTER_SECONDS} s).",
        },
        "paths": paths,
        "components": {"schemas": COMPONENTS, "securitySchemes": SECURITY_SCHEMES},
    }


def route(document: JSONSchema) -> Route:
    """``GET /openapi.json``: ``document``, serialized once."""
    body = json.dumps(document, separators=(",", ":")).encode()

    async def openapi_json(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route("/openapi.json", openapi_json, methods=["GET"])
