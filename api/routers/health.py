"""Liveness, readiness and who-am-I.

``/api/health`` answers as long as the process serves HTTP; ``/api/ready`` checks what a
request needs (the database answers, the policy pack is loaded) and says 503 with the failing
check otherwise, so a load balancer stops routing to a replica that cannot decide anything.

``/livez`` and ``/readyz`` are the same two questions in the form Kubernetes probes ask them,
outside ``/api`` and without a token: ``/livez`` is 200 while the process serves;
``/readyz`` is 200 or 503 with one entry per check — ``database`` (a query), ``policy`` (the pack
loaded; an OPA server answering its health check), ``broker`` (the USP controller's MQTT link up,
or the broker reachable before the controller has started; only when ``GATEWARD_MQTT_URL`` is
set) — each ``{"ok": bool, "detail": text}``. The detail names the failure, never a credential.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ActorDep, AppRuntime, RuntimeDep
from api.errors import RETRY_AFTER_S, errors_for
from api.schemas import Health, Me
from core import rbac
from core.kernel.jsontypes import JsonObject

router = APIRouter(prefix="/api", tags=["health"])
probes = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    """No I/O, so it runs on the event loop: the floor the other routes are measured against.
    ``demo``: whether this is ``gateward run --demo`` — asked before sign-in, so the console can
    say so on the sign-in page too."""
    return Health(status="ok", demo=bool(getattr(request.app.state, "demo", False)))


@router.get("/ready", response_model=None, responses={503: {"description": "a dependency is not ready"}})
def ready(rt: RuntimeDep) -> Any:
    checks: dict[str, str] = {}
    try:
        with rt.store.read() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = f"ok ({rt.store.dialect})"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        checks["policy"] = f"ok ({rt.policy.name}, revision {rt.policy.revision[:12]})"
    except Exception as exc:
        checks["policy"] = f"error: {exc.__class__.__name__}"
    ok = all(v.startswith("ok") for v in checks.values())
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503,
                        headers=None if ok else {"Retry-After": str(RETRY_AFTER_S)})


@router.get("/me", response_model=Me, responses=errors_for(401))
async def me(actor: ActorDep) -> Me:
    """Who the token belongs to and which roles the user directory gives them (no I/O here: the
    token check is the dependency's, cached or on a worker thread)."""
    return Me(id=actor.id, roles=list(actor.roles), kind=str(actor.kind), can_approve=rbac.can_review(actor))


@probes.get("/livez", response_model=None)
async def livez() -> Any:
    """The process serves HTTP (no I/O: a stuck event loop is what this finds)."""
    return JSONResponse({"live": True})


def _check_database(rt: AppRuntime) -> tuple[bool, str]:
    try:
        with rt.store.read() as s:
            s.execute(text("SELECT 1"))
        return True, f"answered ({rt.store.dialect})"
    except Exception as exc:  # readiness reports, it does not raise
        return False, f"{type(exc).__name__}: {' '.join(str(getattr(exc, 'orig', None) or exc).split())[:200]}"


def _check_policy(rt: AppRuntime) -> tuple[bool, str]:
    try:
        revision = rt.policy.revision[:12]
    except Exception as exc:
        return False, f"pack not loaded: {type(exc).__name__}"
    healthy = getattr(rt.policy, "healthy", None)
    if healthy is not None and not healthy():
        return False, f"{rt.policy.name} at {getattr(rt.policy, 'url', '?')} does not answer its health check"
    return True, f"{rt.policy.name}, revision {revision}"


def _check_broker(rt: AppRuntime) -> tuple[bool, str] | None:
    """None when no broker is configured (``GATEWARD_MQTT_URL`` unset)."""
    if not os.environ.get("GATEWARD_MQTT_URL"):
        return None
    usp = getattr(rt, "usp", None)
    executor = getattr(usp, "_instance", None) if usp is not None else None
    controller = getattr(executor, "controller", None)
    if controller is not None and getattr(controller, "started", False):
        link = getattr(controller, "link", None)
        up = bool(getattr(link, "connected", False))
        return up, "controller connected" if up else "controller started, MQTT link down"
    url = urlsplit(rt.settings.mqtt_url)
    host, port = url.hostname or "127.0.0.1", url.port or (8883 if url.scheme in ("mqtts", "ssl") else 1883)
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError as exc:
        return False, f"broker {host}:{port} unreachable ({exc.strerror or type(exc).__name__})"
    return True, f"broker {host}:{port} reachable (controller not started yet)"


@probes.get("/readyz", response_model=None, responses={503: {"description": "a check failed"}})
def readyz(rt: RuntimeDep) -> Any:
    """200 when every check passes, else 503; each check with its detail."""
    checks: dict[str, JsonObject] = {}
    for name, result in (("database", _check_database(rt)), ("policy", _check_policy(rt)),
                         ("broker", _check_broker(rt))):
        if result is not None:
            checks[name] = {"ok": result[0], "detail": result[1]}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503,
                        headers=None if ok else {"Retry-After": str(RETRY_AFTER_S)})
