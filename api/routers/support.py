"""What a support agent asks for beside the planner: a rollback of an applied change,
routed to an approver; the upstream of the caller's gateway (is there an outage?); and an
escalation that opens a case for the PON port / OLT.

Every decision is made below this layer: the rollback request is a proposal through every gate
(``core.rollback_request``; policy asks an approver, ``approval.rollback_request``), the outage
verdict and the case are ``brain.remediation.escalation``'s. People only: a job's token gets 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PersonDep, RuntimeDep
from api.errors import errors_for
from api.path_ids import DeviceId

router = APIRouter(prefix="/api/support", tags=["support"], responses=errors_for(401))



class RollbackRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposal_id: str = Field(min_length=1, max_length=32)
    device_id: str = Field(min_length=1, max_length=160)
    reason: str = Field(min_length=1, max_length=2000)


class EscalationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


@router.post("/rollback-requests", status_code=201, responses=errors_for(403, 404, 409, 422))
async def request_rollback(body: RollbackRequestIn, rt: RuntimeDep, actor: PersonDep) -> dict[str, Any]:
    """Ask for an applied change on one device to be put back: a new proposal (the backed-up values),
    which policy sends to an approver. Nothing is written to the device by this call."""
    from core.rollback_request import request_rollback as submit
    from core.views import proposal_public

    p = await run_in_threadpool(submit, rt, body.proposal_id, body.device_id, body.reason, actor)
    return {"proposal": proposal_public(p)}


@router.get("/devices/{device_id}/upstream", responses=errors_for(404))
async def upstream(device_id: DeviceId, rt: RuntimeDep, _: PersonDep) -> dict[str, Any]:
    """The gateway's upstream chain, how its neighbours on it are doing (``suspected_outage``) and
    the open outage case of that upstream, if any."""
    from brain.remediation.escalation import upstream_view

    return await run_in_threadpool(upstream_view, rt.store, device_id)


@router.post("/devices/{device_id}/escalate", status_code=201, responses=errors_for(403, 404, 409, 422))
async def escalate(device_id: DeviceId, body: EscalationIn, rt: RuntimeDep, actor: PersonDep) -> dict[str, Any]:
    """Open a case for the gateway's upstream (PON port / OLT), escalated to the network team; a
    second escalation of the same upstream adds its note to the open case."""
    from brain.remediation.escalation import escalate as open_case
    from core.kernel.models import utcnow

    return await run_in_threadpool(open_case, rt.store, device_id, actor, body.note, utcnow())
