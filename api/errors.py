"""Every error leaves as JSON ``{"error": code, "detail": text, ...}`` with a 4xx status — but an
unknown address a browser navigates to, which gets a page (:mod:`api.not_found`).

Why one module: the console, scripts and the fuzzer all parse the same shape, so every way a
request can fail — a domain refusal from the lifecycle, a validation error, malformed JSON, an
unknown route — is mapped here. A 500 is always a bug: the catch-all handler still answers in
the same shape so that clients never parse HTML, and logs the traceback (never the body).

Conditions of the server are not bugs: a full disk (503 ``storage_full``) and a lost or refused
database connection (503 ``database_unavailable``) answer with ``Retry-After``, whatever raised
them. Every unexpected exception is answered by :class:`CatchAll`, inside the app, and not by
Starlette's outermost error middleware: that one re-raises after answering, and uvicorn then
closes the connection — a keep-alive client's next request on it got no answer at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.kernel.errors import (
    DatabaseUnavailable,
    GatewardError,
    ShuttingDown,
    StorageFull,
    cause_text,
    database_unavailable_cause,
    storage_full_cause,
)
from core.kernel.jsontypes import Json, JsonObject

log = logging.getLogger("gateward.api")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "too_large",
              415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
              503: "unavailable"}


#: ``Retry-After`` of a 503 for a condition of the server (draining, a full disk, a lost database):
#: long enough for a reconnect, short enough that a client's retry meets the database once it is back.
RETRY_AFTER_S = 2
_RETRYABLE = (ShuttingDown, DatabaseUnavailable, StorageFull)
MAX_LISTED_ERRORS = 20  # validation errors listed in a 422 answer; the rest are counted (``more_errors``)


class ErrorOut(BaseModel):
    """The one error shape. ``error`` is a stable machine code; ``detail`` says what to do."""

    error: str = Field(examples=["conflict"])
    detail: str = Field(examples=["proposal p-1 changed since you reviewed it; review it again"])


# Documented on every route that can refuse (OpenAPI); the fuzzer checks the real answers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the request could not be read"},
    401: {"model": ErrorOut, "description": "missing, invalid, revoked or expired API token"},
    403: {"model": ErrorOut, "description": "your role may not do this, or separation of duties"},
    404: {"model": ErrorOut, "description": "unknown id"},
    409: {"model": ErrorOut, "description": "the proposal is in another state, changed, or is locked"},
    413: {"model": ErrorOut, "description": "request body too large"},
    415: {"model": ErrorOut, "description": "the body must be application/json"},
    422: {"model": ErrorOut, "description": "invalid input (names the field) or malformed JSON"},
    429: {"model": ErrorOut, "description": "too many requests from you; retry after Retry-After seconds"},
    503: {"model": ErrorOut, "description": "the server is draining, its database is unreachable or its disk is "
                                            "full; nothing was changed by this request, retry after Retry-After"},
}


def errors_for(*codes: int) -> dict[int | str, JsonObject]:
    """The documented error answers for a route (OpenAPI ``responses``)."""
    return {c: ERROR_RESPONSES[c] for c in codes}


def error_body(code: str, detail: str, **extra: Any) -> JsonObject:
    return {"error": code, "detail": detail, **extra}


def domain_error_body(exc: GatewardError) -> JsonObject:
    """The body of a domain error's answer (the handler's, and the one an idempotency key keeps)."""
    return error_body(exc.code, exc.message, **_jsonable_extra(exc.extra))


def _jsonable_extra(extra: Mapping[str, Json]) -> JsonObject:
    out: JsonObject = {}
    for k, v in extra.items():
        if isinstance(v, (str, int, float, bool, type(None))):
            out[k] = v
        elif isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v):
            out[k] = v[:50]
    return out


def _loc(loc: Any) -> str:
    parts = [str(x) for x in loc if x not in ("body",)] or [str(x) for x in loc]
    return ".".join(parts) or "request"


def unexpected(exc: BaseException) -> JSONResponse:
    """The answer to an exception no handler of its own took: a condition of the server (disk
    full, database unreachable) is a 503 with ``Retry-After``; anything else is a bug, logged."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    full = storage_full_cause(exc)
    if full is not None:  # a full disk is a condition of the server, not a bug
        log.error("the database's disk is full: %s", full)
        return JSONResponse(error_body("storage_full", f"the database's disk is full ({full}); nothing more "
                                       "was recorded — retry once an operator has freed space"),
                            status_code=503, headers=retry)
    lost = database_unavailable_cause(exc)
    if lost is not None:
        why = cause_text(lost)
        log.warning("database unavailable: %s", why)
        return JSONResponse(error_body("database_unavailable", f"the database is not answering ({why}); retry "
                                       f"in {RETRY_AFTER_S} s — what this request had recorded before the connection "
                                       "was lost is kept, so look before you create anything again"),
                            status_code=503, headers=retry)
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal", "internal error (a bug); it has been logged"), status_code=500)


class CatchAll:
    """Innermost middleware: answers any exception the routes' handlers did not take with
    :func:`unexpected` and does *not* re-raise it, so the connection stays open for the client's
    next request. An exception after the answer started (a stream cut mid-way) goes on up."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            await unexpected(exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """The handlers, and :class:`CatchAll` — added first, so it sits innermost, around the routes
    (install before any other middleware)."""
    app.add_middleware(CatchAll)

    @app.exception_handler(GatewardError)
    async def _domain(_: Request, exc: GatewardError) -> JSONResponse:
        return JSONResponse(domain_error_body(exc), status_code=exc.http_status,
                            headers={"Retry-After": str(RETRY_AFTER_S)}
                            if isinstance(exc, _RETRYABLE) or getattr(exc, "retryable", False) else None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        every = exc.errors()
        raw = list(every[:MAX_LISTED_ERRORS])  # only these are read: turning 70,000 into dicts held the loop
        if any(e.get("type") == "json_invalid" for e in raw):
            ctx = next((e.get("ctx") or {} for e in raw if e.get("type") == "json_invalid"), {})
            why = ctx.get("error") if isinstance(ctx, dict) else None
            return JSONResponse(error_body("malformed_json",
                                           f"the body is not valid JSON ({why or 'parse error'}); "
                                           "send a JSON object with Content-Type: application/json"),
                                status_code=422)
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in raw]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{_loc(first['loc'])}: {first['msg']}"
        if len(every) > 1:
            detail += f" (+{len(every) - 1} more)"
        extra = {"more_errors": len(every) - len(errors)} if len(every) > len(errors) else {}
        return JSONResponse(error_body("invalid_request", detail, errors=errors, **extra), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            from api.not_found import not_found_page, wants_not_found_page

            if wants_not_found_page(request):  # a browser's navigation: a page, not raw JSON
                return not_found_page(request)
            detail = "no such route; the API is described at /openapi.json"
        if exc.status_code == 405:
            detail = "method not allowed on this route; see /openapi.json"
        return JSONResponse(error_body(code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        """Exceptions raised outside :class:`CatchAll` (in the outer middleware): same answers."""
        return unexpected(exc)
