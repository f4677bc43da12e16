"""One structured log line per HTTP request, under a request id the client can follow.

Each request gets an id: the client's ``X-Request-ID`` when it sends a sane one (1–128 of
``[A-Za-z0-9._:-]``; a load balancer's or a tracing proxy's), else a new one. It is echoed in the
answer's ``X-Request-ID``, set in :data:`core.oplog.REQUEST_ID` while the request runs (so the
governed actions it causes log it too), and logged once when the answer is complete, on the
``gateward.request`` logger: ``request_id``, ``method``, ``path`` (without the query string, which
could carry anything), ``route`` (the template), ``status``, ``actor`` (who the credential belongs
to, when the request got that far — ``api.deps`` notes it in ``request.state.actor``) and
``duration_ms``. Probes and scrapes (``/livez``, ``/readyz``, ``/api/health``, ``/api/ready``,
``/metrics``) log at ``DEBUG``: a probe every few seconds would drown the lines that matter.

Outermost middleware: it sees the 503 of the load shedder and the 408 of the body guard too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.oplog import REQUEST_ID

log = logging.getLogger("gateward.request")

HEADER = b"x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
QUIET = frozenset({"/livez", "/readyz", "/api/health", "/api/ready", "/metrics"})


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is sane, else a new random id."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = bytes(value).decode("latin-1")
            if _SANE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestLog:
    """ASGI middleware: the request id (in and out) and one log line per request."""

    def __init__(self, app: ASGIApp, router_app: Router | None = None) -> None:
        self.app = app
        self.router_app = router_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        encoded = rid.encode("latin-1")
        token = REQUEST_ID.set(rid)
        t0 = time.perf_counter()
        status = 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (HEADER, encoded)]
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            REQUEST_ID.reset(token)
            path = str(scope.get("path", ""))
            level = logging.DEBUG if path in QUIET else logging.INFO
            if log.isEnabledFor(level):
                self._log(level, scope, rid, path, status, time.perf_counter() - t0)

    def _log(self, level: int, scope: Scope, rid: str, path: str, status: int, seconds: float) -> None:
        from api.metrics import route_template

        state = scope.get("state") or {}
        actor = state.get("actor") if isinstance(state, dict) else None
        method = str(scope.get("method", ""))
        route = route_template(self.router_app, scope) if self.router_app is not None else None
        fields = {"request_id": rid, "method": method, "path": path, "route": route, "status": status,
                  "actor": actor, "duration_ms": round(seconds * 1000, 1)}
        log.log(level, "%s %s %d %.1f ms", method, path, status, seconds * 1000, extra={"fields": fields})


__all__ = ["HEADER", "RequestLog", "request_id"]
