"""Liveness, readiness and who-am-I.

``/api/health`` answers as long as the process serves HTTP; ``/api/ready`` checks what a
request needs (the database answers, the policy pack is loaded) and says 503 with the failing
check otherwise, so a load balancer stops routing to a replica that cannot decide anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ActorDep, RuntimeDep
from api.errors import errors_for
from api.schemas import Health, Me

router = APIRouter(prefix="/api", tags=["health"])


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
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get("/me", response_model=Me, responses=errors_for(401))
async def me(actor: ActorDep) -> Me:
    """Who the token belongs to and which roles the user directory gives them (no I/O here: the
    token check is the dependency's, cached or on a worker thread)."""
    return Me(id=actor.id, roles=list(actor.roles), kind=str(actor.kind))
