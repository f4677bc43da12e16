"""Prometheus metrics at ``/metrics``: requests by route, latency, the lifecycle's stage timings,
governed actions by outcome with their durations (``core.oplog``), and the fleet, proposals,
approvals, campaigns and remediation cases counted in the store (``api.fleet_metrics``).

Why a token: the counts describe the fleet and the change queue, so a scrape authenticates like any
other API call (a bearer token of a role in ``METRICS_ROLES``); Prometheus sends it with
``authorization: {type: Bearer, credentials_file: ...}``.

Why a registry per app: tests and benchmarks build several apps in one process; the global
default registry would refuse the second one. Route labels are the route *template*
(``/api/proposals/{pid}``), never the concrete path, so ids do not explode the label space and
no subscriber or device id leaks into the metrics. The fleet and queue gauges are read from the
store at scrape time (a collector with a short cache), so they are right across API replicas.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.fleet_metrics import FleetCollector
from core import oplog
from core.kernel.errors import Forbidden
from core.kernel.models import Actor

if TYPE_CHECKING:
    from core.store import Store

METRICS_ROLES = ("admin", "auditor")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# a governed action may wait for devices (an apply with its verify window, a campaign batch)
ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The app's registry and instruments."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("gateward_http_requests", "HTTP requests by route template, method and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("gateward_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.stages = Histogram("gateward_lifecycle_stage_seconds",
                                "Time spent in each lifecycle stage (validate, preview, decide, backup, apply, ...)",
                                ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.handler = Histogram("gateward_api_handler_seconds",
                                 "Time in a route handler by part: the lifecycle call, the answer read after it",
                                 ["route", "part"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.lane_wait = Histogram("gateward_store_lane_wait_seconds",
                                   "Time interactive database work waited for the process's store lane "
                                   "(core.store.lane)", buckets=LATENCY_BUCKETS, registry=self.registry)
        self.actions = Counter("gateward_governed_actions", "Governed actions (core.oplog) by action and outcome",
                               ["action", "outcome"], registry=self.registry)
        self.action_seconds = Histogram("gateward_governed_action_seconds", "Duration of governed actions",
                                        ["action"], buckets=ACTION_BUCKETS, registry=self.registry)
        self.frozen = Gauge("gateward_gc_frozen_objects",
                            "Objects of this process's start-up heap that the cyclic garbage collector no longer "
                            "walks (gateward.heap; 0: not frozen, every full collection walks them)",
                            registry=self.registry)
        self.frozen.set_function(gc.get_freeze_count)
        self.fleet = FleetCollector(store)
        self.registry.register(self.fleet)
        oplog.set_observer(self.governed)  # the process's governed actions: the newest app counts them

    def governed(self, action: str, outcome: str, seconds: float) -> None:
        """Told by ``core.oplog`` after each governed action."""
        self.actions.labels(action=action, outcome=outcome).inc()
        self.action_seconds.labels(action=action).observe(seconds)

    def stage_timer(self, stage: str, seconds: float) -> None:
        """Plugged into ``Lifecycle(stage_timer=...)``."""
        self.stages.labels(stage=stage).observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(app: Router, scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for r in getattr(app, "routes", []):  # older Starlette does not put the route in the scope
        match, _ = r.matches(scope)
        if match is Match.FULL:
            return str(getattr(r, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request (streams are timed to their last byte)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, router_app: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router_app = router_app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            key = (str(scope.get("method", "")), route_template(self.router_app, scope), status)
            children = self._children.get(key)
            if children is None:  # label lookups cost more than the counting: once per (method, route, status)
                method, route, _ = key
                children = (self.metrics.requests.labels(method=method, route=route, status=str(status)),
                            self.metrics.latency.labels(method=method, route=route))
                if len(self._children) < 10_000:
                    self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - t0)


def require_metrics_reader(actor: Actor) -> None:
    """403 unless the actor holds a role allowed to read metrics."""
    if not any(r in METRICS_ROLES for r in actor.roles):
        raise Forbidden(f"{actor.id} may not read metrics (roles: {', '.join(METRICS_ROLES)})")

