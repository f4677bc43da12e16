"""Request body guards: 413 for oversized bodies, 415 for non-JSON bodies on the API, 422 for a
JSON body with a key sent twice or an object with more keys than any request has.

Why a raw ASGI middleware rather than a dependency: the limit must hold before anything parses
the body, for a declared ``Content-Length`` and for a chunked body that never declared one.
The body is buffered up to the limit (API bodies are small JSON documents) and replayed to the
application, so a too-large body is refused having read at most ``limit + one chunk`` bytes.

Why the JSON shape is checked here: validation reports one error per unknown key, and
turning 70,000 of them into an answer cost the event loop 0.7-2.2 s (FastAPI and pydantic build a
dict per error) while every other request waited. One parse of the buffered body — C speed, about
30 ms for a full MiB — refuses an object with more than :data:`MAX_OBJECT_KEYS` keys before any
validation, so what validation can report is bounded; and a key sent twice, which JSON parsers
resolve differently (here the last silently won), is refused by name.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import deque
from collections.abc import Mapping

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1_048_576  # 1 MiB: a 10,000-device target list fits; a dump does not
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The most keys one JSON object of a request body may have. The largest request models have 16
# fields (a device to register, a campaign); free-form maps (evidence data, operation arguments)
# are small. 64 bounds what validation can report: at most 64 unknown keys per object.
MAX_OBJECT_KEYS = 64
DEFAULT_BODY_TIMEOUT_S = 30.0  # a 1 MiB body at 300 kbit/s; GATEWARD_API_BODY_TIMEOUT_S (ReadTimeouts)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _send_error(send: Send, status: int, code: str, detail: str, *,
                      headers: list[tuple[bytes, bytes]] | None = None, extra: Mapping[str, object] | None = None
                      ) -> None:
    body = orjson.dumps({"error": code, "detail": detail, **(extra or {})})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or ())]})
    await send({"type": "http.response.body", "body": body})


class ReadTimeouts(BaseModel):
    """How long a client may take to send a request (environment: ``GATEWARD_API_HEADER_TIMEOUT_S``,
    ``GATEWARD_API_BODY_TIMEOUT_S``; see README). Why: a connection that trickles its headers or
    body a byte at a time holds a socket and buffers for as long as it likes, and uvicorn times out
    only the wait *between* requests (any byte received resets it). The header deadline is kept by
    the HTTP protocol (``gateward.serving``), the body deadline by :class:`BodyGuard`."""

    model_config = ConfigDict(frozen=True)

    header_s: float = Field(default=10.0, gt=0, le=3600,
                            description="from connecting (or the last answer) to the end of the request headers")
    body_s: float = Field(default=DEFAULT_BODY_TIMEOUT_S, gt=0, le=3600,
                          description="from the headers to the end of the body")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReadTimeouts:
        """Read the variables; a bad value stops start-up with the variable's name."""
        env = os.environ if env is None else env
        names = {"header_s": "GATEWARD_API_HEADER_TIMEOUT_S", "body_s": "GATEWARD_API_BODY_TIMEOUT_S"}
        values = {field: env[var] for field, var in names.items() if env.get(var, "").strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            raise ValueError(f"{names[field]}: {exc.errors()[0]['msg']} (got {values.get(field)!r})") from exc


TIMEOUT_HEADERS = [(b"connection", b"close")]  # a client too slow to send its request is not kept


class JsonShapeError(ValueError):
    """A JSON body refused before validation: ``code`` and ``detail`` of the 422 answer, ``extra``
    fields beside them."""

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra


def _checked_object(pairs: list[tuple[str, object]]) -> None:
    """``object_pairs_hook``: refuse an object with too many keys or a key twice. Returns nothing:
    the parse is only a check (the application parses the body again), so no dict is kept."""
    if len(pairs) > MAX_OBJECT_KEYS:
        first = ", ".join(k for k, _ in pairs[:5])
        raise JsonShapeError("too_many_keys", f"an object in the body has {len(pairs)} keys ({first}, ...); "
                                              f"a request object has at most {MAX_OBJECT_KEYS}",
                             keys=len(pairs), limit=MAX_OBJECT_KEYS)
    if len(dict(pairs)) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonShapeError("duplicate_key", f'the key "{key}" appears twice in one object of the body; '
                                                      "send each key once", key=key)
            seen.add(key)


def check_json_shape(body: bytes) -> JsonShapeError | None:
    """Why ``body`` is refused before validation, or None. A body that is not JSON at all passes:
    the application answers it as malformed, in its own words (``api.errors``)."""
    try:
        json.loads(body, object_pairs_hook=_checked_object)
    except JsonShapeError as exc:
        return exc
    except (ValueError, RecursionError):
        return None
    return None


class BodyGuard:
    """Refuse bodies over ``max_bytes`` (413), non-JSON bodies under ``/api/`` (415), and JSON
    bodies there with a duplicate key or an oversized object (422, :func:`check_json_shape`)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES, json_prefix: str = "/api/",
                 body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_prefix = json_prefix
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _send_error(send, 400, "bad_request", "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await _send_error(send, 413, "too_large",
                                  f"request body is {length} bytes; the limit is {self.max_bytes}")
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        while more:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await _send_error(send, 408, "request_timeout",
                                  f"the request body did not arrive within {self.body_timeout_s:g} s "
                                  f"({size} bytes came); send it whole and faster", headers=TIMEOUT_HEADERS)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "too_large", f"request body exceeds the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        path = str(scope.get("path", ""))
        if body.strip() and path.startswith(self.json_prefix):
            if not _is_json(headers.get("content-type", "")):
                await _send_error(send, 415, "unsupported_media_type",
                                  f"send the body as JSON with Content-Type: application/json "
                                  f"(got {headers.get('content-type') or 'no content type'})")
                return
            refused = check_json_shape(body)
            if refused is not None:
                await _send_error(send, 422, refused.code, refused.detail, extra=refused.extra)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---------------------------------------------------------------------------- load shedding
#
# Why: under more load than the process can serve, an unbounded queue only makes every answer late
# (and, on PostgreSQL, ends in a pool timeout — a 500). A bounded number of requests in flight per
# kind of work, a short wait for a slot, and then a clear "come back in N seconds" keeps the answers
# that are given fast, and keeps one kind of work from starving another: requests that may talk to a
# device (create/edit with a live preview, apply, rollback, diagnostics) have slots of their own, so a
# stuck device cannot take the slots reads need. The body is read (BodyGuard) before a slot is taken,
# so a client uploading slowly holds a connection, never a slot.

READ, WRITE, DEVICE, CHAT = "read", "write", "device", "chat"
EXEMPT_PATHS = frozenset({"/api/health", "/api/ready", "/livez", "/readyz", "/api/events"})  # probes, the SSE feed
DEVICE_SUFFIXES = ("/apply", "/rollback")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ShedLimits(BaseModel):
    """Concurrency bounds of the API process (environment: ``GATEWARD_API_MAX_*``, see README)."""

    model_config = ConfigDict(frozen=True)

    # Defaults sum to 32: under the worker-thread pool (40) and the PostgreSQL pool (10 + 20 overflow),
    # so a full house waits here, where the wait is bounded, rather than there, where it is not.
    reads: int = Field(16, ge=1, le=10_000, description="GET requests in flight")
    writes: int = Field(4, ge=1, le=10_000, description="state-changing requests that touch no device")
    device: int = Field(8, ge=1, le=10_000, description="requests that may talk to a device")
    chat: int = Field(4, ge=1, le=10_000, description="planner turns (streamed, slow by nature)")
    per_client: int = Field(12, ge=1, le=10_000, description="requests in flight per credential or address")
    queue_wait_s: float = Field(1.0, ge=0, le=60, description="how long a request may wait for a slot")
    retry_after_s: int = Field(1, ge=1, le=3600, description="the Retry-After sent with 429 / 503")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShedLimits:
        """Read ``GATEWARD_API_MAX_READS`` etc.; a bad value stops start-up with the variable's name."""
        env = os.environ if env is None else env
        names = {"reads": "GATEWARD_API_MAX_READS", "writes": "GATEWARD_API_MAX_WRITES",
                 "device": "GATEWARD_API_MAX_DEVICE_OPS", "chat": "GATEWARD_API_MAX_CHAT",
                 "per_client": "GATEWARD_API_MAX_PER_CLIENT", "queue_wait_s": "GATEWARD_API_QUEUE_WAIT_S",
                 "retry_after_s": "GATEWARD_API_RETRY_AFTER_S"}
        values = {field: env[var] for field, var in names.items() if env.get(var, "").strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            bad = exc.errors()[0]
            var = names.get(str(bad["loc"][0]), str(bad["loc"][0])) if bad.get("loc") else "GATEWARD_API_MAX_*"
            raise ValueError(f"{var}: {bad['msg']} (got {values.get(str(bad['loc'][0]))!r})") from exc


_DEVICE_READS = tuple(f"{k}={v}".encode() for k in ("live", "presence") for v in ("true", "1", "yes", "on"))


def _asks_devices(query: bytes) -> bool:
    """``?live=true`` / ``?presence=true``: a read that goes to the devices, not only the store."""
    if not query:
        return False
    q = query.lower()
    return any(needle in q for needle in _DEVICE_READS)


def work_class(method: str, path: str, query: bytes = b"") -> str | None:
    """Which pool of slots a request draws from; ``None``: not limited (probes, SSE, static)."""
    # /auth/ too: a password sign-in costs an argon2 check (64 MiB, tens of ms of CPU) and
    # an OpenID Connect callback calls the provider; a flood of either waits for write/read slots.
    if not path.startswith(("/api/", "/auth/")) or path in EXEMPT_PATHS:
        return None
    if path.startswith("/api/chat/") and method not in READ_METHODS:
        return CHAT
    if path.endswith(DEVICE_SUFFIXES) or "/diagnostics/" in path or _asks_devices(query):
        return DEVICE
    if method in READ_METHODS:
        return READ
    if path.rstrip("/") == "/api/proposals" or (path.startswith("/api/proposals/") and method == "PUT"):
        return DEVICE  # create / edit run the live preview, which reads the device
    return WRITE


class _Pool:
    """``limit`` slots; a request waits at most ``wait_s`` for one. Counting only, on the event loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, wait_s: float) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        if wait_s <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        got = False
        try:
            await asyncio.wait_for(asyncio.shield(fut), wait_s)
            got = True  # release() handed its slot over (in_flight was not decremented)
        except TimeoutError:
            pass
        finally:
            if not got:  # timed out, or the client went away (CancelledError propagates)
                self._give_up(fut)
        return got

    def _give_up(self, fut: asyncio.Future[None]) -> None:
        """Leave the queue; a slot handed over in the same instant is passed on, never lost."""
        if fut in self._waiters:
            self._waiters.remove(fut)
            fut.cancel()
        elif fut.done() and not fut.cancelled():
            self.release()

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # hand the slot to the oldest waiter
                return
        self.in_flight -= 1


def _client_key(scope: Scope) -> str:
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            return "t:" + hashlib.sha256(v).hexdigest()[:16]
    client = scope.get("client")
    return f"a:{client[0]}" if client else "a:?"


async def _shed(send: Send, status: int, code: str, detail: str, retry_after: int) -> None:
    body = orjson.dumps({"error": code, "detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(retry_after).encode())]})
    await send({"type": "http.response.body", "body": body})


def _overload_error(exc: BaseException) -> bool:
    """Errors that mean "the database is saturated right now", not "the request is wrong": a pool
    that has no connection to give, SQLite's write lock held past its busy timeout — or a pooled
    connection that died since its last use (a database restart; the store pings only connections
    that idled, ``core.store.db``): SQLAlchemy has then invalidated the pool, so a retry gets a
    fresh connection, and the transaction that failed was rolled back by the server."""
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from core.store.admission import server_full

    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError) and (
        "database is locked" in str(exc.orig).lower() or server_full(exc.orig or exc))


class LoadShedder:
    """Bounded concurrency per kind of work and per client: 503 + ``Retry-After`` when the pool
    stays full for ``queue_wait_s``, 429 + ``Retry-After`` when one client has ``per_client``
    requests in flight already, and 503 (not 500) when the database itself is saturated."""

    def __init__(self, app: ASGIApp, limits: ShedLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ShedLimits.from_env()
        lim = self.limits
        self.pools = {READ: _Pool(lim.reads), WRITE: _Pool(lim.writes), DEVICE: _Pool(lim.device),
                      CHAT: _Pool(lim.chat)}
        self.per_client: dict[str, int] = {}
        self.shed_count: dict[int, int] = {429: 0, 503: 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = (work_class(str(scope.get("method", "")), str(scope.get("path", "")), scope.get("query_string", b""))
                if scope["type"] == "http" else None)
        if kind is None:
            await self.app(scope, receive, send)
            return
        lim = self.limits
        client = _client_key(scope)
        if self.per_client.get(client, 0) >= lim.per_client:
            self.shed_count[429] += 1
            await _shed(send, 429, "too_many_requests",
                        f"this client has {lim.per_client} requests in flight already; wait for an answer "
                        f"and retry after {lim.retry_after_s} s", lim.retry_after_s)
            return
        pool = self.pools[kind]
        self.per_client[client] = self.per_client.get(client, 0) + 1
        try:
            if not await pool.acquire(lim.queue_wait_s):
                self.shed_count[503] += 1
                await _shed(send, 503, "overloaded",
                            f"the server is busy ({pool.limit} {kind} requests in flight); "
                            f"retry after {lim.retry_after_s} s", lim.retry_after_s)
                return
            try:
                await self._call(scope, receive, send)
            finally:
                pool.release()
        finally:
            left = self.per_client[client] - 1
            if left:
                self.per_client[client] = left
            else:
                del self.per_client[client]

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started or not _overload_error(exc):
                raise
            self.shed_count[503] += 1
            what = ("the database connection was lost (a fresh one serves the retry)"
                    if getattr(exc, "connection_invalidated", False) else "the database is saturated right now")
            await _shed(send, 503, "overloaded", f"{what}; retry after {self.limits.retry_after_s} s",
                        self.limits.retry_after_s)
