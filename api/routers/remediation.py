"""Remediation over HTTP: cases, the detector run, the queue's status, profiles and the
compatibility matrix with its evidence.

Every action is one call into ``brain.remediation`` (or ``core.compat``); who may do what is
decided there and in the lifecycle underneath, never here. The service is the runtime's one
instance, injected (``api.deps.RemediationDep``). Running the detectors or working the
queue from the API is for automation and admins (the workers do it continuously).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, RemediationDep, RuntimeDep
from api.errors import errors_for
from core.kernel.clock import elapsed_now
from core.kernel.errors import Forbidden
from core.kernel.models import Actor

router = APIRouter(prefix="/api/remediation", tags=["remediation"], responses=errors_for(401))
compat_router = APIRouter(prefix="/api/compat", tags=["remediation"], responses=errors_for(401))

CaseId = Annotated[str, Path(min_length=1, max_length=32)]
ACTION_ERRORS = errors_for(403, 404, 409, 422)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class DetectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problems: list[str] | None = Field(default=None, max_length=50)
    dry_run: bool = False


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(default=30.0, gt=0, le=600)


class ZtpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=160)
    trigger: str = Field(default="manual", max_length=32)


def _operator(actor: Actor) -> None:
    if not ({"admin", "automation"} & set(actor.roles)):
        raise Forbidden(f"{actor.id} may not run remediation jobs (admins and automation; workers run them anyway)")


@router.get("/status")
def remediation_status(svc: RemediationDep, _: ActorDep) -> dict[str, Any]:
    """Case counts, queue depth, each problem's ramp and breaker, the global token level."""
    return svc.status()


@router.get("/effects")
def remediation_effects(svc: RemediationDep, _: ActorDep,
                        window_h: Annotated[float, Query(gt=0, le=24)] = 6.0) -> dict[str, Any]:
    """Each problem's fix, measured on its detector's KPI against matched untreated cases (or the
    same homes before), with its interval: which automated fixes help and which only move numbers."""
    from brain.remediation.effects import fix_effects

    with svc.store.read() as s:
        items = fix_effects(s, svc.rules, now=elapsed_now(svc.rt.lifecycle.clock), window_h=window_h)
    return {"items": items, "window_h": window_h}


@router.get("/cases")
def list_cases(svc: RemediationDep, _: ActorDep,
               status: Annotated[str | None, Query(max_length=200, description="comma-separated, e.g. open,escalated")]
               = None,
               problem: Annotated[str | None, Query(max_length=64)] = None,
               device_id: Annotated[str | None, Query(max_length=160)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    items, total = svc.list(status=status, problem=problem, device_id=device_id, limit=limit, offset=offset)
    return {"items": items, "total": total}


@router.get("/cases/{case_id}", responses=errors_for(404))
def get_case(svc: RemediationDep, _: ActorDep, case_id: CaseId) -> dict[str, Any]:
    return svc.get(case_id)


@router.post("/cases/{case_id}/close", responses=ACTION_ERRORS)
def close_case(svc: RemediationDep, actor: ActorDep, case_id: CaseId, body: ReasonBody) -> dict[str, Any]:
    return svc.close_case(case_id, actor, body.reason)


@router.post("/cases/{case_id}/adopt", responses=ACTION_ERRORS)
def adopt_case(svc: RemediationDep, actor: ActorDep, case_id: CaseId) -> dict[str, Any]:
    """Take over an escalated case: the planner drafts the fix with the caller as its author."""
    return svc.adopt(case_id, actor)


@router.post("/detect", responses=ACTION_ERRORS)
def run_detect(svc: RemediationDep, actor: ActorDep, body: DetectBody | None = None) -> dict[str, Any]:
    _operator(actor)
    b = body or DetectBody()
    return svc.detect(problems=b.problems, dry_run=b.dry_run)


@router.post("/run", responses=ACTION_ERRORS)
def run_queue(svc: RemediationDep, actor: ActorDep, body: RunBody | None = None) -> dict[str, Any]:
    """Work the queue in the serving process until nothing is ready (or the timeout)."""
    _operator(actor)
    return svc.drain(timeout_s=(body or RunBody()).timeout_s).as_dict()


@router.post("/ztp", status_code=201, responses=ACTION_ERRORS)
def open_ztp(svc: RemediationDep, actor: ActorDep, body: ZtpBody) -> dict[str, Any]:
    _operator(actor)
    return svc.trigger_ztp(body.device_id, body.trigger, source=f"api:{actor.id}").as_dict()


@router.post("/problems/{problem}/halt", responses=ACTION_ERRORS)
def halt_problem(svc: RemediationDep, actor: ActorDep, body: ReasonBody,
                 problem: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    return svc.set_problem(problem, "halted", actor, body.reason)


@router.post("/problems/{problem}/resume", responses=ACTION_ERRORS)
def resume_problem(svc: RemediationDep, actor: ActorDep,
                   problem: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    return svc.set_problem(problem, "running", actor, "resumed")


@router.get("/profiles")
def list_profiles(svc: RemediationDep, _: ActorDep) -> dict[str, Any]:
    ps = svc.profiles
    return {"items": [p.model_dump() for p in ps.profiles], "total": len(ps.profiles)}


@router.get("/profiles/check")
def check_profiles(svc: RemediationDep, _: ActorDep) -> dict[str, Any]:
    """Conflicting profile pairs, and the fleet's devices they hold back from provisioning."""
    from brain.remediation.profiles import fleet_conflicts

    ps = svc.profiles
    with svc.store.read() as s:
        fleet = fleet_conflicts(ps, s)
    pairs = [{"a": a.id, "a_version": a.version, "b": b.id, "b_version": b.version, "path": c.path,
              "values": c.values, "text": c.describe()} for a, b, c in ps.potential_conflicts()]
    return {"ok": not pairs, "pairs": pairs, "fleet": fleet}


@router.get("/profiles/{profile_id}", responses=errors_for(404))
def get_profile(svc: RemediationDep, _: ActorDep,
                profile_id: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    return svc.profiles.get(profile_id).model_dump()


@compat_router.get("")
def compat_matrix(rt: RuntimeDep, _: ActorDep,
                  vendor: Annotated[str | None, Query(max_length=64)] = None,
                  model: Annotated[str | None, Query(max_length=64)] = None,
                  workflow: Annotated[str | None, Query(max_length=32)] = None) -> dict[str, Any]:
    """The compatibility matrix with its evidence and the status policy uses per row."""
    from core import compat

    data = compat.policy_data(rt.policy)
    with rt.store.read() as s:
        rows = compat.matrix(s, data, vendor=vendor, model=model)
    if workflow:
        rows = [r for r in rows if r["workflow"] == workflow]
    return {"thresholds": compat.Thresholds.from_data(data).__dict__, "items": rows, "total": len(rows)}
