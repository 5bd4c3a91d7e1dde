"""The API's one error edge: every exception a route lets out becomes an HTTP answer here.

Routes do not translate errors; the stores raise the hub's error families and their own
documented errors, and :func:`install_error_handlers` maps them (the nearest class in an
exception's MRO wins):

* ``hub.errors.InvalidInput`` - a query, cursor, facet or page the user got wrong, or a search
  too expensive to run (``kb.limits.QueryTooExpensive``: over the query budget, or stopped at
  its deadline; narrowing it helps, retrying it does not, so not a 503): 400,
  ``{"detail": {"message": ..., "position": ..., "expected": [...]}}``, with ``position`` and
  ``expected`` only when the input has a place where it went wrong.
* ``crm.InvalidCSV`` - an imported CSV with records that cannot be read: 422 in the shape of
  every other 422, one item per record, ``{"loc": ["body", <line>], "msg": ..., "type":
  "csv_record"}``, the first 20 (and one more item saying how many were left out).
* ``crm.InvalidRequest`` 400; ``crm.NotFound`` and ``registry.UnknownFeed`` 404;
  ``crm.Conflict``, ``registry.FeedAlreadyPolled`` and ``registry.FeedInSettings`` 409: all
  ``{"detail": "<message>"}`` (:data:`STATUS_BY_ERROR`).
* ``hub.errors.RetriableError`` - a passing condition: 503, ``{"detail": "<message>"}`` and
  ``Retry-After`` in seconds.
* ``hub.errors.FatalError`` - wrong configuration or environment: 503,
  ``{"detail": "<what to fix>"}``.
* anything else - a storage or decoding fault (a corrupt stored document's pydantic
  ``ValidationError``, ``sqlite3.DatabaseError``), any other ``ParleyError``, a bug: 500,
  ``{"detail": "internal error; see the server log"}``, logged with the method and path.
  Never a 400: a ``ValueError`` is not by itself the user's mistake.

FastAPI's own answers keep their shape: ``HTTPException`` keeps its status and detail, and a
request that fails validation is 422 with ``detail`` the documented list of errors
``[{"loc": [...], "msg": ..., "type": ..., "ctx": {...}}]``. The rejected ``input`` is not
echoed: it may be megabytes long, nest deeply, or hold a NaN that JSON cannot carry (and
failing to encode it made such a 422 a 500).

Routers document the statuses they may answer with :func:`error_responses`, so the OpenAPI
schema lists every answer a client can get and its shape (422 FastAPI documents itself; a
500 is a bug, not part of the contract).

The 500 is answered by a middleware rather than an ``Exception`` handler because Starlette
re-raises after running that handler: the server would log every fault twice and test clients
would see an exception instead of the answer the client gets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.feeds.registry import FeedAlreadyPolled, FeedInSettings, UnknownFeed
from crm.errors import Conflict, InvalidCSV, InvalidRequest, NotFound
from hub.errors import FatalError, InvalidInput, RetriableError

__all__ = [
    "INTERNAL_ERROR",
    "STATUS_BY_ERROR",
    "BadRequest",
    "ErrorMessage",
    "InputProblem",
    "document_guard_responses",
    "error_responses",
    "install_error_handlers",
    "unprocessable",
    "validation_details",
]

logger = logging.getLogger(__name__)

#: the whole body of a 500: the reason is in the server log, not in the answer
INTERNAL_ERROR = "internal error; see the server log"

#: errors answered with their message as ``detail``, by status
STATUS_BY_ERROR: dict[type[Exception], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    UnknownFeed: 404,
    Conflict: 409,
    FeedAlreadyPolled: 409,
    FeedInSettings: 409,
}

#: the Retry-After a RetriableError gets when it does not say how long to wait
DEFAULT_RETRY_AFTER_S = 1

E = TypeVar("E", bound=Exception)


class ErrorMessage(BaseModel):
    """An error answer: what went wrong, in a sentence."""

    detail: str


class InputProblem(BaseModel):
    """Where and why a query, cursor or facet the user wrote cannot be answered."""

    message: str
    position: int | None = None
    expected: list[str] = []


class BadRequest(BaseModel):
    """A 400: a sentence, or for a query the user wrote, where it went wrong and what would do."""

    detail: str | InputProblem


_RESPONSES: dict[int, tuple[type[BaseModel], str]] = {
    400: (BadRequest, "The request can never succeed as written"),
    404: (ErrorMessage, "Not found"),
    409: (ErrorMessage, "The request contradicts the current state"),
    401: (ErrorMessage, "Not signed in: send Authorization: Bearer <API token>, or sign in"),
    403: (ErrorMessage, "Signed in, but the role is too low (or a cross-site or CSRF-less write)"),
    413: (ErrorMessage, "The request body is larger than the configured cap"),
    415: (ErrorMessage, "A form or plain-text body where JSON is expected"),
    429: (ErrorMessage, "Too many failed attempts; retry after Retry-After seconds"),
    503: (ErrorMessage, "A store is unavailable or kept conflicting; retry (see Retry-After)"),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the error ``statuses`` a router answers with."""
    return {
        status: {"model": _RESPONSES[status][0], "description": _RESPONSES[status][1]} for status in statuses
    }


def unprocessable(where: str, message: str, *, location: str = "body") -> RequestValidationError:
    """A 422 for a request body (or query, with ``location="query"``) that validates field by
    field but not as a whole, in the one 422 shape the schema documents (``detail`` a list of
    ``{loc, msg, type}``)."""
    return RequestValidationError([{"loc": (location, where), "msg": message, "type": "value_error"}])


def document_guard_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with the answers of the app-wide guards documented on
    every operation they apply to: 401 and 403 where the operation needs a signed-in agent,
    400, 413 and 415 where it takes a body. Routers document their own errors; these come from the
    middleware and dependencies every route shares, so they are added in one place."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            guards = [401, 403] if operation.get("security") else []
            if "requestBody" in operation:
                guards += [400, 413, 415]  # 400: a body that is not JSON at all
            for status in guards:
                model, description = _RESPONSES[status]
                if status == 400:
                    model = BadRequest
                operation["responses"].setdefault(
                    str(status),
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": _schema_ref(model)}}},
                    },
                )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorMessage, BadRequest):
        for name, definition in (
            model.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items()
        ):
            components.setdefault(name, definition)
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        definition.pop("$defs", None)
        components.setdefault(model.__name__, definition)
    return schema


def _schema_ref(model: type[BaseModel]) -> str:
    return f"#/components/schemas/{model.__name__}"


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception handler of the API on ``app`` (call once, in the factory)."""
    _handle(app, RequestValidationError, _request_invalid)
    _handle(app, InvalidInput, _invalid_input)
    _handle(app, InvalidCSV, _invalid_csv)
    for error, status in STATUS_BY_ERROR.items():
        _handle(app, error, _answer_with_message(status))
    _handle(app, RetriableError, _retriable)
    _handle(app, FatalError, _fatal)
    app.add_middleware(UnexpectedErrorMiddleware)


def _handle(app: FastAPI, error: type[E], handler: Callable[[Request, E], Awaitable[Response]]) -> None:
    """``app.add_exception_handler``, checking that ``handler`` takes what ``error`` raises.

    Starlette types every handler as taking any ``Exception``; it calls one only with an
    instance of the class it was registered for (the nearest in the exception's MRO).
    """
    app.add_exception_handler(error, handler)  # type: ignore[arg-type]


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """The documented 422 ``detail`` items of pydantic ``errors``: ``loc``, ``msg``, ``type``,
    and of ``ctx`` only the plain JSON scalars (limits such as ``max_length``)."""
    details: list[dict[str, Any]] = []
    for error in errors:
        item: dict[str, Any] = {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        context = {
            key: value
            for key, value in (error.get("ctx") or {}).items()
            if isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value))
        }
        if context:
            item["ctx"] = context
        details.append(item)
    return details


async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": validation_details(exc.errors())})


async def _invalid_csv(request: Request, exc: InvalidCSV) -> JSONResponse:
    detail: list[dict[str, Any]] = [
        {"loc": ["body", line], "msg": reason, "type": "csv_record"} for line, reason in exc.problems
    ]
    if exc.count > len(exc.problems):
        left_out = exc.count - len(exc.problems)
        detail.append(
            {"loc": ["body"], "msg": f"{left_out} more records cannot be read", "type": "csv_record"}
        )
    return JSONResponse(status_code=422, content={"detail": detail})


async def _invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
    detail: dict[str, Any] = {"message": str(exc)}
    if exc.position is not None:
        detail |= {"position": exc.position, "expected": exc.expected}
    elif exc.expected:
        detail["expected"] = exc.expected
    return JSONResponse(status_code=400, content={"detail": detail})


def _answer_with_message(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    return handler


async def _retriable(request: Request, exc: RetriableError) -> JSONResponse:
    # A passing condition (a locked database, an unreachable Elasticsearch): the client may
    # retry, after as long as the other side asked when it did.
    logger.warning("%s %s: %s", request.method, request.url.path, exc)
    wait = DEFAULT_RETRY_AFTER_S if exc.retry_after is None else max(1, math.ceil(exc.retry_after))
    return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": str(wait)})


async def _fatal(request: Request, exc: FatalError) -> JSONResponse:
    # The message says what to fix in the configuration or environment; the operator needs
    # it in the log as much as the client needs it in the answer.
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(status_code=503, content={"detail": str(exc)})


class UnexpectedErrorMiddleware:
    """Answers any exception no handler claimed with a generic 500 and logs it with the path.

    Nothing of the exception reaches the client: it may name files, queries or stored data.
    When the response had already started (a streamed export failing half way) there is no
    status left to send, so the exception propagates and the server drops the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception:
            logger.exception("%s %s failed", scope["method"], scope["path"])
            if started:
                raise
            response = JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR})
            await response(scope, receive, send)
