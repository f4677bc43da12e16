"""The FastAPI application: typed routers under ``/api``, the console at ``/``, metrics at
``/metrics`` (bearer token of an admin or auditor), the OpenAPI description at ``/openapi.json``.

``create_app(runtime)`` is the only entry point (``gateward run`` serves it). The app holds no
state of its own beyond the runtime, so replicas behind a load balancer share everything
through the database.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import docs, errors, openapi
from api.auth import routes as auth_routes
from api.auth.service import AuthState
from api.auth.settings import AuthSettings
from api.deps import ActorDep, AppRuntime, Authenticator, TokenAuthenticator
from api.draining import DrainGate
from api.limits import DEFAULT_MAX_BODY_BYTES, BodyGuard, LoadShedder, ReadTimeouts, ShedLimits
from api.metrics import Metrics, MetricsMiddleware, require_metrics_reader
from api.page_cache import HeadProbe, PageCache
from api.path_ids import EncodedSlashes
from api.request_log import RequestLog
from api.routers import audit, campaigns, devices, fleet, health, inventory, live, proposals, remediation
from api.routers import chat as chat_routes
from api.routers import support as support_routes
from core.users import TOKEN_CACHE

if TYPE_CHECKING:  # the planner is imported on first use (a build without it serves every other route)
    from brain.contracts import ChatService

STATIC = Path(__file__).parent / "static"
VERSION = "0.1.0"

# The console loads nothing from anywhere else: no CDN, no inline script, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
# The API docs pages (packaged Swagger UI / ReDoc, api/docs.py) are held to the same rule — nothing
# from another origin — but their libraries set inline styles and ReDoc starts a blob: worker.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY")]
# Encoded once: what each kind of path gets added (API answers are never cached: subscriber data).
_PAGE_HEADERS = (*SECURITY_HEADERS, (b"content-security-policy", CSP.encode()))
_DOCS_HEADERS = (*SECURITY_HEADERS, (b"content-security-policy", DOCS_CSP.encode()))
_API_HEADERS = (*_PAGE_HEADERS, (b"cache-control", b"no-store"))


class SecurityHeaders:
    """Adds the console's CSP and the usual hardening headers to every response, and stops
    caching of API answers (they carry subscriber data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        extra = _API_HEADERS if path.startswith(("/api/", "/auth/")) else (
            _DOCS_HEADERS if path.startswith(("/docs", "/redoc")) else _PAGE_HEADERS)

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, add)


# Modules request handlers import on first use (lazily, so that a CLI read command never pays for
# them), imported by create_app before anything is served. Why: two request threads
# importing one package at once, where its modules import each other, can each hold a module lock
# the other needs; Python breaks the cycle by handing one of them a half-initialised module, and
# the first USP device pages after a start failed with "cannot import name 'UspExecutor' from
# partially initialized module". Imported here, no request thread imports them: each entry brings
# its package's modules (``tests/api/test_first_requests.py`` checks that serving the pages
# imports no module of the project). A module missing from the build (the planner) is skipped:
# its routes answer 503 as before.
REQUEST_IMPORTS = (
    "executors.usp", "core.usp_topics",  # USP device pages: the controller, the executor, its topic book
    "core.lifecycle", "core.topology", "core.history", "core.compat", "core.fleet_facts", "core.fleet_group",
    "core.preview_sample", "core.snapshot_values",
    "policies.explain", "policies.loader",
    "campaigns.service", "campaigns.queue", "campaigns.schema", "campaigns.spec", "campaigns.orchestrator",
    "brain.contracts", "brain.redact", "brain.remediation.service", "brain.remediation.schema",
    "brain.remediation.profiles", "brain.service",
)
log = logging.getLogger("gateward.api")


def import_request_modules(names: tuple[str, ...] = REQUEST_IMPORTS) -> list[str]:
    """Import ``names`` now, on the thread building the app; returns those missing from the build."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(name)
            log.info("%s is not in this build (%s); its routes say so when asked", name, exc)
    return missing


def build_routes(app: FastAPI) -> None:
    """Have FastAPI work out every route before the first request: it works out each included
    router's routes (their dependencies, parameters, response models) the first time a request is
    matched against that router, on that request — a process's first ``GET /api/fleet`` spent about
    a second on the routers matched before its own. Matching a path that no route has against each
    route walks them all; served at start-up (the lifespan), before any request is taken."""
    scope: Scope = {"type": "http", "method": "GET", "path": "/ start-up", "raw_path": b"/%20start-up",
                    "root_path": "", "query_string": b"", "headers": [], "app": app}
    for route in app.router.routes:
        route.matches(scope)


def _runtime_chat(runtime: AppRuntime) -> ChatService:
    """The runtime's own chat service (built once per runtime, shared by every app over it)."""
    return runtime.chat


def create_app(runtime: AppRuntime, *, chat: ChatService | None = None,
               chat_factory: Callable[[AppRuntime], ChatService] | None = None,
               authenticator: Authenticator | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, limits: ShedLimits | None = None,
               timeouts: ReadTimeouts | None = None,
               demo: bool = False, auth: AuthSettings | None = None) -> FastAPI:
    """Build the app over ``runtime``.

    ``chat`` / ``chat_factory``: the planner's chat service (default: the runtime's own,
    ``runtime.chat``, built on first use; a test or a harness may bring another).
    ``authenticator``: bearer credential → actor (default: API tokens).
    ``limits``: load-shedding bounds (default: ``ShedLimits.from_env()``).
    ``timeouts``: how long a request body may take to arrive (default: ``ReadTimeouts.from_env()``).
    ``demo``: served by ``gateward run --demo``; ``/api/health`` says so and the console shows a banner.
    ``auth``: sign-in for people (default: ``AuthSettings.from_env()``; ``api.auth``, docs/auth.md).
    """
    import_request_modules()  # before serving: no request thread imports a package half-way
    head = HeadProbe.for_engine(runtime.store.engine)

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        build_routes(served)
        sampling = fleet.prime_presence(served)  # the fleet's first presence sample, begun now
        await anyio.to_thread.run_sync(sampling.join, fleet.PRIME_WAIT_S)
        yield
        await head.aclose()  # the page cache's own database connection (api.page_cache)

    app = FastAPI(
        lifespan=lifespan,
        title="Gateward", version=VERSION, docs_url=None, redoc_url=None,  # offline pages: api/docs.py
        description="Policy-governed changes for ISP home-gateway fleets. Every write goes through "
                    "validate → preview → policy → approval → backup → apply → verify. Authenticate with "
                    "`Authorization: Bearer <token>` (`gateward users token NAME`). Errors are "
                    '`{"error": code, "detail": text}` with a 4xx status.',
    )
    app.state.runtime = runtime
    app.state.demo = demo
    # The queue's rendered pages, valid while the audit head they were read at is current.
    app.state.list_head, app.state.list_pages = head, PageCache()
    app.state.chat = chat
    app.state.chat_factory = chat_factory or _runtime_chat
    if authenticator is None:
        _ = TOKEN_CACHE.ttl_s  # a bad GATEWARD_TOKEN_CACHE_S fails here, at start, not on a request
    app.state.authenticator = authenticator or TokenAuthenticator(runtime.store)
    # Sign-in for people: a bad GATEWARD_OIDC_* / session setting fails here, at start.
    app.state.auth = AuthState.build(runtime.store, auth or AuthSettings.from_env())
    metrics = Metrics(runtime.store)
    app.state.metrics = metrics
    runtime.store.lane.observe = metrics.lane_wait.observe  # the process's one lane: the newest app watches it
    lifecycle = runtime.lifecycle
    if lifecycle.stage_timer is None:
        # Feed stage timings to /metrics unless something else (a benchmark) already listens.
        lifecycle.set_stage_timer(metrics.stage_timer)
    errors.install(app)
    openapi.install(app)
    docs.install(app)
    # FastAPI matches a request against the included routers in this order, route by route: the probes
    # (three routes), then the queue, the console's most frequent read (their prefixes do not overlap,
    # so the order changes nothing else; behind the devices router it paid a tenth of its CPU for it).
    for r in (health.router, proposals.router, devices.router, audit.router, chat_routes.router, campaigns.router,
              remediation.router, remediation.compat_router, inventory.router, inventory.onboarding_router,
              live.router, fleet.router, support_routes.router, auth_routes.router):
        app.include_router(r)

    app.include_router(health.probes)  # /livez, /readyz: outside /api, no token

    @app.get("/metrics", include_in_schema=False)
    def prometheus(actor: ActorDep) -> Response:
        """Prometheus scrape: ``authorization: {type: Bearer, credentials: <token>}`` in the scrape
        config, with the token of an admin or auditor (e.g. a job user ``prometheus``)."""
        require_metrics_reader(actor)
        return metrics.render()

    if STATIC.exists():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def console() -> FileResponse:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    # Inside BodyGuard: a slot is taken only once the whole body has arrived (a slow upload holds none).
    shed = limits or ShedLimits.from_env()
    app.add_middleware(LoadShedder, limits=shed)
    # Outside the shedder: while the process drains (SIGTERM), writes get 503 + Retry-After at once.
    app.add_middleware(DrainGate, retry_after_s=shed.retry_after_s)
    app.add_middleware(BodyGuard, max_bytes=max_body_bytes,
                       body_timeout_s=(timeouts or ReadTimeouts.from_env()).body_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics, router_app=app.router)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog, router_app=app.router)  # X-Request-ID, one log line per request
    app.add_middleware(EncodedSlashes)  # outermost: every layer routes a device id with a '/' as one segment
    return app
