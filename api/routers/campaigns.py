"""Campaigns over HTTP: define, preview, start, pause, resume, promote, abort, follow.

Every action is one call into ``campaigns.service``; who may do what is decided there (and in the
lifecycle underneath), never here. Errors come back in the API's one shape with the service's own
words. On PostgreSQL new batches are handed to the job queue at once; on SQLite a worker in the
serving process (``gateward.worker.EmbeddedWorker``) or ``gateward worker`` picks them up. The
service is the runtime's one instance, injected (``api.deps.CampaignsDep``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import ActorDep, CampaignsDep
from api.errors import errors_for
from api.idempotency import IdempotencyKey, once
from core.idempotency import IdempotencyKeyInFlight

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors_for(401))

CampaignId = Annotated[str, Path(min_length=1, max_length=32)]
ACTION_ERRORS = errors_for(403, 404, 409, 422)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


@router.get("")
def list_campaigns(svc: CampaignsDep, _: ActorDep,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    items = svc.list(limit)
    return {"items": items, "total": len(items)}


@router.get("/selection", responses=errors_for(422))
def campaign_selection(svc: CampaignsDep, _: ActorDep,
                       model: Annotated[str | None, Query(max_length=128)] = None,
                       vendor: Annotated[str | None, Query(max_length=128)] = None,
                       firmware: Annotated[str | None, Query(max_length=128)] = None,
                       region: Annotated[str | None, Query(max_length=32)] = None,
                       tag: Annotated[list[str] | None, Query(max_length=20)] = None,
                       op: Annotated[list[str] | None, Query(max_length=10)] = None) -> dict[str, Any]:
    """The live device count of a selector while a campaign is being defined (the console's create
    form), whether it is the whole fleet, the fleet's models, firmware, regions and vendors, and the
    change windows policy would bind it to (``op``: the operations it would run, e.g. download)."""
    from campaigns.spec import Target

    target = Target(model=model or None, vendor=vendor or None, firmware=firmware or None, region=region or None,
                    tags=[t for t in (tag or []) if t])
    return svc.selection(target, [o[:32] for o in op or []])


@router.post("", status_code=201, responses=ACTION_ERRORS)
async def create_campaign(svc: CampaignsDep, actor: ActorDep, body: dict[str, Any],
                          idempotency_key: IdempotencyKey = None) -> Any:
    """Body: a campaign definition (``campaigns.spec.CampaignSpec``): name, target, changes |
    operations | firmware, canary_pct, rings, control_pct, gate, promotion, rate. With an
    ``Idempotency-Key`` a repeated request answers the first one's answer (``api.idempotency``)."""
    if idempotency_key is None:
        return await run_in_threadpool(svc.create, body, actor)

    def attempt(made: str | None, bind: Callable[[Session, str], None]) -> dict[str, Any]:
        if made is not None:
            if (earlier := svc.created_for(made)) is not None:
                return earlier
            if svc.lc.create_under_way(made):
                raise IdempotencyKeyInFlight(
                    "the first request with this Idempotency-Key is still creating the campaign (its proposal "
                    f"{made}); send the request again in a moment", proposal_id=made)
            if (earlier := svc.created_for(made)) is not None:  # recorded while the line above looked
                return earlier
            # That attempt ended without a campaign (its process died; its proposal is cancelled): again.
        return svc.create(body, actor, on_record=bind)

    return await once(svc.store, actor, idempotency_key, "POST /api/campaigns", body, attempt)


@router.get("/{cid}", responses=errors_for(404))
def campaign_status(svc: CampaignsDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    return svc.status(cid)


@router.get("/{cid}/preview", responses=errors_for(404))
def campaign_preview(svc: CampaignsDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    return svc.preview(cid)


@router.get("/{cid}/timeline", responses=errors_for(404))
def campaign_timeline(svc: CampaignsDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    """Finished batches in order (for progress and failure-rate charts) and the gate's verdicts."""
    from campaigns.schema import CampaignBatchRow

    st = svc.status(cid)
    with svc.store.read() as s:
        rows = s.execute(select(CampaignBatchRow.ring, CampaignBatchRow.finished_at, CampaignBatchRow.n_verified,
                                CampaignBatchRow.n_failed, CampaignBatchRow.duration_s).where(
            CampaignBatchRow.campaign_id == cid, CampaignBatchRow.finished_at.is_not(None))
            .order_by(CampaignBatchRow.finished_at).limit(5000)).all()
    return {"id": cid, "batches": [{"ring": r[0], "t": r[1].isoformat() if r[1] else None, "verified": r[2],
                                    "failed": r[3],
                                    "duration_s": r[4]} for r in rows],
            "analyses": st["analyses"]}


@router.post("/{cid}/rehearse", responses=ACTION_ERRORS)
def rehearse_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    """Replay the change on twin copies of every target (no device written); stored for approvers."""
    return svc.rehearse(cid, actor)


@router.get("/{cid}/rehearsal", responses=errors_for(404))
def campaign_rehearsal(svc: CampaignsDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    """The last rehearsal, whether it is of the proposal as it is now, and whether policy requires one."""
    return svc.rehearsal_of(cid)


@router.get("/{cid}/effects", responses=errors_for(404))
def campaign_effects(svc: CampaignsDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    """Each KPI's effect against the matched control cohort, per measurement, with its interval."""
    return svc.effects(cid)


@router.post("/{cid}/start", responses=ACTION_ERRORS)
def start_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    return svc.start(cid, actor)


@router.post("/{cid}/pause", responses=ACTION_ERRORS)
def pause_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId, body: ReasonBody | None = None
                   ) -> dict[str, Any]:
    return svc.pause(cid, actor, body.reason if body else "")


@router.post("/{cid}/resume", responses=ACTION_ERRORS)
def resume_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    return svc.resume(cid, actor)


@router.post("/{cid}/promote", responses=ACTION_ERRORS)
def promote_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    return svc.promote(cid, actor)


@router.post("/{cid}/abort", responses=ACTION_ERRORS)
def abort_campaign(svc: CampaignsDep, actor: ActorDep, cid: CampaignId, body: ReasonBody) -> dict[str, Any]:
    return svc.abort(cid, actor, body.reason)
