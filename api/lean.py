"""Lean routes: FastAPI describes them, a small handler serves them.

Why: docs/performance.md, D8 (FastAPI's per-request work cost more than the queue's answer). A
:class:`LeanRoute` keeps the declared endpoint, so the OpenAPI description, the route's name and
its place in the router are FastAPI's as before, but requests go to the handler attached with
:func:`lean_handler`: one ``async (request) -> Response``. It uses the same pieces the declared
endpoint would (the bearer scheme, :func:`api.deps.current_actor`, the same pydantic constraints
via :func:`parse_query`), so answers, refusals and their JSON shapes are the same; errors still
go through the app's handlers (``api.errors``). ``tests/api/test_page_cache.py`` serves one
endpoint both ways and compares the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from core.kernel.jsontypes import JsonObject

LeanHandler = Callable[[Request], Awaitable[Response]]
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def lean_handler(handler: LeanHandler) -> Callable[[F], F]:
    """Attach ``handler`` to the declared endpoint (served by it when the route is a :class:`LeanRoute`)."""

    def attach(endpoint: F) -> F:
        endpoint.__lean_handler__ = handler  # type: ignore[attr-defined]
        return endpoint

    return attach


class LeanRoute(APIRoute):
    """An ``APIRoute`` whose requests go to the endpoint's lean handler (FastAPI's documented hook
    for a custom route handler, ``get_route_handler``). The exception handling around it is
    FastAPI's, as for any route."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler: LeanHandler | None = getattr(self.endpoint, "__lean_handler__", None)
        return handler if handler is not None else super().get_route_handler()


def parse_query(model: type[M], request: Request, lists: frozenset[str] = frozenset()) -> M:
    """The query parameters as ``model`` (the same constraints the declared endpoint states), read as
    FastAPI reads them: the last value of a repeated scalar, every value of a list field (``lists``),
    absent fields at their defaults; a violation is the same 422 (``loc`` starts with ``query``)."""
    qp = request.query_params
    values: JsonObject = {}
    for name in model.model_fields:
        if name in lists:
            many = qp.getlist(name)
            if many:
                values[name] = many
        else:
            one = qp.get(name)
            if one is not None:
                values[name] = one
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc


class QueryParser(Generic[M]):
    """:func:`parse_query` remembered by the raw query string (bounded): a console polls the same
    few queries, and parsing and validating them again was a tenth of a cached answer's CPU. Only
    valid queries are kept (a bad one raises every time); ``model`` must be frozen, since one parsed
    value is shared by every request that sent the same bytes."""

    def __init__(self, model: type[M], lists: frozenset[str] = frozenset(), size: int = 1024) -> None:
        if not model.model_config.get("frozen"):
            raise TypeError(f"{model.__name__} must be frozen to be shared between requests")
        self.model, self.lists, self.size = model, lists, size
        self._seen: dict[bytes, M] = {}

    def __call__(self, request: Request) -> M:
        raw: bytes = request.scope.get("query_string", b"")
        parsed = self._seen.get(raw)
        if parsed is None:
            parsed = parse_query(self.model, request, self.lists)
            if len(self._seen) >= self.size:
                self._seen.clear()
            self._seen[raw] = parsed
        return parsed
