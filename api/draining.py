"""While this process drains (SIGTERM): writes get 503 ``shutting_down`` with
``Retry-After``, readiness probes say not ready, reads go on being served until the process exits.

Why a middleware and not a check per route: every request that is not a read is refused at once,
before its body is read or a token checked — the same answer for a proposal, an approval, a chat
turn or a campaign command — so a client or the TLS proxy in front of the replicas retries it on
another replica (or here, after the restart) knowing nothing was done. A write that slipped in just
before the drain began and reaches the lifecycle after it is refused there
(:class:`core.kernel.errors.ShuttingDown`, the same answer). Readiness (``/api/ready``, ``/readyz``)
answers 503 so a load balancer stops sending new work here while the in-flight work finishes.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from core.lifecycle import draining

READS = frozenset({"GET", "HEAD", "OPTIONS"})
READINESS = frozenset({"/api/ready", "/readyz"})
DETAIL = ("this Gateward process is shutting down and takes no new writes; nothing was done — retry "
          "(another replica, or this one after its restart)")
NOT_READY = "shutting down (SIGTERM): take no new work here"


class DrainGate:
    """503 + ``Retry-After`` for every non-read request, and for readiness, once draining."""

    def __init__(self, app: ASGIApp, retry_after_s: int = 1) -> None:
        self.app = app
        self.retry_after = str(max(1, int(retry_after_s))).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not draining.active():
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if path in READINESS:  # each probe's own shape of a check: /readyz {ok, detail}, /api/ready a string
            check: object = {"ok": False, "detail": NOT_READY} if path == "/readyz" else NOT_READY
            body = orjson.dumps({"ready": False, "checks": {"draining": check}})
        elif scope.get("method", "GET") in READS:
            await self.app(scope, receive, send)
            return
        else:
            body = orjson.dumps({"error": "shutting_down", "detail": DETAIL})
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", self.retry_after), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
