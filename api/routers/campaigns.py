"""Campaigns over HTTP: define, preview, start, pause, resume, promote, abort, follow.

Every action is one call into ``campaigns.service``; who may do what is decided there (and in the
lifecycle underneath), never here. Errors come back in the API's one shape with the service's own
words. On PostgreSQL new batches are handed to the job queue at once; on SQLite a worker in the
serving process (``campaigns.worker.EmbeddedWorker``) or ``gateward worker`` picks them up.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.deps import ActorDep, RuntimeDep
from api.errors import errors_for

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors_for(401))

CampaignId = Annotated[str, Path(min_length=1, max_length=32)]
ACTION_ERRORS = errors_for(403, 404, 409, 422)
_services: dict[int, Any] = {}
_lock = threading.Lock()


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


def _svc(rt: Any) -> Any:
    """One service per runtime; on PostgreSQL it holds a queue connection pool for dispatching."""
    from campaigns.queue import Queue, is_postgres
    from campaigns.service import Campaigns

    with _lock:
        svc = _services.get(id(rt))
        if svc is None:
            queue = Queue.for_url(rt.store.url).open_sync() if is_postgres(rt.store.url) else None
            svc = _services[id(rt)] = Campaigns(rt, queue)
        return svc


@router.get("")
def list_campaigns(rt: RuntimeDep, _: ActorDep,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    items = _svc(rt).list(limit)
    return {"items": items, "total": len(items)}


@router.get("/selection", responses=errors_for(422))
def campaign_selection(rt: RuntimeDep, _: ActorDep,
                       model: Annotated[str | None, Query(max_length=128)] = None,
                       vendor: Annotated[str | None, Query(max_length=128)] = None,
                       firmware: Annotated[str | None, Query(max_length=128)] = None,
                       region: Annotated[str | None, Query(max_length=32)] = None,
                       tag: Annotated[list[str] | None, Query(max_length=20)] = None) -> dict[str, Any]:
    """The live device count of a selector while a campaign is being defined (the console's create
    form), whether it is the whole fleet, and the fleet's models, firmware, regions and vendors."""
    from campaigns.spec import Target

    target = Target(model=model or None, vendor=vendor or None, firmware=firmware or None, region=region or None,
                    tags=[t for t in (tag or []) if t])
    result: dict[str, Any] = _svc(rt).selection(target)
    return result


@router.post("", status_code=201, responses=ACTION_ERRORS)
def create_campaign(rt: RuntimeDep, actor: ActorDep, body: dict[str, Any]) -> dict[str, Any]:
    """Body: a campaign definition (``campaigns.spec.CampaignSpec``): name, target, changes |
    operations | firmware, canary_pct, rings, control_pct, gate, promotion, rate."""
    result: dict[str, Any] = _svc(rt).create(body, actor)
    return result


@router.get("/{cid}", responses=errors_for(404))
def campaign_status(rt: RuntimeDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).status(cid)
    return result


@router.get("/{cid}/preview", responses=errors_for(404))
def campaign_preview(rt: RuntimeDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).preview(cid)
    return result


@router.get("/{cid}/timeline", responses=errors_for(404))
def campaign_timeline(rt: RuntimeDep, _: ActorDep, cid: CampaignId) -> dict[str, Any]:
    """Finished batches in order (for progress and failure-rate charts) and the gate's verdicts."""
    from campaigns.schema import CampaignBatchRow

    st = _svc(rt).status(cid)
    with rt.store.read() as s:
        rows = s.execute(select(CampaignBatchRow.ring, CampaignBatchRow.finished_at, CampaignBatchRow.n_verified,
                                CampaignBatchRow.n_failed, CampaignBatchRow.duration_s).where(
            CampaignBatchRow.campaign_id == cid, CampaignBatchRow.finished_at.is_not(None))
            .order_by(CampaignBatchRow.finished_at).limit(5000)).all()
    return {"id": cid, "batches": [{"ring": r[0], "t": r[1].isoformat(), "verified": r[2], "failed": r[3],
                                    "duration_s": r[4]} for r in rows],
            "analyses": st["analyses"]}


@router.post("/{cid}/start", responses=ACTION_ERRORS)
def start_campaign(rt: RuntimeDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).start(cid, actor)
    return result


@router.post("/{cid}/pause", responses=ACTION_ERRORS)
def pause_campaign(rt: RuntimeDep, actor: ActorDep, cid: CampaignId, body: ReasonBody | None = None
                   ) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).pause(cid, actor, body.reason if body else "")
    return result


@router.post("/{cid}/resume", responses=ACTION_ERRORS)
def resume_campaign(rt: RuntimeDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).resume(cid, actor)
    return result


@router.post("/{cid}/promote", responses=ACTION_ERRORS)
def promote_campaign(rt: RuntimeDep, actor: ActorDep, cid: CampaignId) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).promote(cid, actor)
    return result


@router.post("/{cid}/abort", responses=ACTION_ERRORS)
def abort_campaign(rt: RuntimeDep, actor: ActorDep, cid: CampaignId, body: ReasonBody) -> dict[str, Any]:
    result: dict[str, Any] = _svc(rt).abort(cid, actor, body.reason)
    return result
